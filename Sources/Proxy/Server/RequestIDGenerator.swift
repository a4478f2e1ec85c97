import Core

/// Request ids: 32 hex digits, a random prefix per event loop and a counter. Unique without a
/// syscall or a lock per request.
struct RequestIDGenerator {
    private let prefix: [UInt8]
    private var counter: UInt64 = 0

    init() {
        let random = (try? SecureRandom.bytes(8)) ?? Array(repeating: 0, count: 8)
        prefix = Array(Hex.encode(random).utf8)
    }

    /// One allocation: the 32 bytes written straight into the new string.
    mutating func next() -> String {
        counter &+= 1
        let counter = counter
        return String(unsafeUninitializedCapacity: 32) { bytes in
            for index in 0..<16 { bytes[index] = prefix[index] }
            for index in 0..<16 {
                // Arithmetic, not a table: a static array is an object both event loops retain.
                let digit = UInt8(truncatingIfNeeded: (counter >> (60 - 4 * UInt64(index))) & 0xF)
                bytes[16 + index] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") - 10 + digit
            }
            return 32
        }
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
