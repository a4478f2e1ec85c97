import Core

/// A request's id: the client's `X-Request-Id` when acceptable, or one made here. One made here is
/// two integers, written as its 32 hex digits only where it appears (the forwarded head, the
/// response, the log line): no string per request.
enum RequestID: Sendable, Equatable, CustomStringConvertible {
    /// A random prefix per event loop and a counter.
    case generated(prefix: UInt64, counter: UInt64)
    case given(String)

    /// The id's bytes (ASCII), on the stack for a generated one.
    func withUTF8<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        switch self {
        case let .given(text):
            var text = text
            return try text.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
        case let .generated(prefix, counter):
            return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { digits in
                Self.writeHex(prefix, into: digits, at: 0)
                Self.writeHex(counter, into: digits, at: 16)
                return try body(UnsafeRawBufferPointer(digits))
            }
        }
    }

    /// Sixteen hex digits, most significant first. Arithmetic, not a table: a static array is an
    /// object every event loop retains.
    private static func writeHex(_ value: UInt64, into digits: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        for index in 0..<16 {
            let digit = UInt8(truncatingIfNeeded: (value >> (60 - 4 * UInt64(index))) & 0xF)
            digits[offset + index] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") - 10 + digit
        }
    }

    var description: String {
        withUTF8 { String(decoding: $0, as: UTF8.self) }
    }
}

/// Request ids: 32 hex digits, a random prefix per event loop and a counter. Unique without a
/// syscall, a lock or an allocation per request.
struct RequestIDGenerator {
    private let prefix: UInt64
    private var counter: UInt64 = 0

    init() {
        let random = (try? SecureRandom.bytes(8)) ?? Array(repeating: 0, count: 8)
        prefix = random.reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func next() -> RequestID {
        counter &+= 1
        return .generated(prefix: prefix, counter: counter)
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
