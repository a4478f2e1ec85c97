import Foundation

/// Seconds since the Unix epoch, for log timestamps (durations use the monotonic NIODeadline).
enum WallClock {
    static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
