import Foundation

/// Wall-clock time as the stores keep it: Unix milliseconds.
enum Clock {
    static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
