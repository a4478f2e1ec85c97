import Core

/// Request ids: 32 hex digits, a random prefix per event loop and a counter. Unique without a
/// syscall or a lock per request.
struct RequestIDGenerator {
    private let prefix: String
    private var counter: UInt64 = 0

    init() {
        let random = (try? SecureRandom.bytes(8)) ?? Array(repeating: 0, count: 8)
        prefix = Hex.encode(random)
    }

    mutating func next() -> String {
        counter &+= 1
        let digits = String(counter, radix: 16)
        return prefix + String(repeating: "0", count: 16 - digits.utf8.count) + digits
    }

    /// An incoming `X-Request-Id` is kept when it is 1…128 characters of `[A-Za-z0-9._:-]`, so that
    /// ids cannot carry log-injection payloads.
    static func isAcceptable(_ id: Substring) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 128 else { return false }
        return id.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z"))
                || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":")
        }
    }
}
