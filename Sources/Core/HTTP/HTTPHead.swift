import NIOCore

/// A request or response head as `HTTPHeadParser` found it: where each part lies in the bytes that
/// arrived, not copies of them. Offsets count from the first byte of the head (the buffer's reader
/// index when the parse began), so the same `HTTPHead` reads the original buffer or a slice of it
/// that starts at the head.
///
/// Nothing here allocates per header: the fields are one array of small ranges that the parser
/// reuses from one head to the next (see `HTTPHeadParser`).
public struct HTTPHead: Sendable, Equatable {
    /// A span of the head's bytes: `[start, end)` from the head's first byte. 32 bits each: a head
    /// is bounded by `--max-header-bytes`, far below 4 GiB.
    public struct Span: Sendable, Equatable, Hashable {
        public var start: UInt32
        public var end: UInt32

        @inlinable
        public init(_ start: Int, _ end: Int) {
            self.start = UInt32(truncatingIfNeeded: start)
            self.end = UInt32(truncatingIfNeeded: end)
        }

        @inlinable public var range: Range<Int> { Int(start)..<Int(end) }
        @inlinable public var count: Int { Int(end &- start) }
    }

    /// One field line: its name and value (OWS around the value trimmed), and the whole line with
    /// its CRLF, which is what the splicer removes.
    public struct Field: Sendable, Equatable {
        public var name: Span
        public var value: Span
        public var line: Span
        /// The name, when it is one the sidecar reads or edits.
        public var known: HTTPHeaderName
    }

    public enum Kind: Sendable, Equatable {
        case request
        case response
    }

    public var kind: Kind
    /// The request method (requests only; `.GET` for responses).
    public var method: HTTPMethodName = .GET
    /// The request method's bytes (requests only; empty for responses).
    public var methodSpan: Span = .init(0, 0)
    /// The request target's bytes, as sent (requests only).
    public var target: Span = .init(0, 0)
    /// The status code (responses only; 0 for requests).
    public var status: Int = 0
    /// The reason phrase (responses only; may be empty).
    public var reason: Span = .init(0, 0)
    /// `HTTP/1.0` → minor 0, `HTTP/1.1` → minor 1; no other version is accepted.
    public var minorVersion: Int = 1
    /// The fields in the order they came.
    public var fields: [Field] = []
    /// The head's length in bytes, the final empty line included: the body (or the next message)
    /// starts at this offset.
    public var length: Int = 0
    /// How the body that follows is delimited.
    public var framing: HTTPBodyFraming = .none

    public init(kind: Kind) {
        self.kind = kind
    }

    /// The index of the first field the sidecar knows by `name`, if any.
    @inlinable
    public func firstIndex(of name: HTTPHeaderName) -> Int? {
        fields.firstIndex { $0.known == name }
    }

    /// How many fields carry `name`.
    @inlinable
    public func count(of name: HTTPHeaderName) -> Int {
        var count = 0
        for field in fields where field.known == name { count += 1 }
        return count
    }

    /// The index of the first field whose name is `lowercasedName` ignoring ASCII case, for names
    /// that are not `HTTPHeaderName`s (a policy's claim headers, header rules). `head` is the bytes
    /// the head was parsed from, starting at the head's first byte.
    public func firstIndex(ofLowercased lowercasedName: String, in head: ByteBuffer) -> Int? {
        var name = lowercasedName
        return name.withUTF8 { wanted in
            head.withUnsafeReadableBytes { bytes in
                fields.firstIndex { field in
                    field.name.count == wanted.count
                        && ASCII.equalsLowercased(
                            UnsafeRawBufferPointer(rebasing: bytes[field.name.range]), UnsafeRawBufferPointer(wanted))
                }
            }
        }
    }
}

extension ByteBuffer {
    /// The bytes of `span` of a head that starts at this buffer's reader index, as a slice (no copy).
    @inlinable
    public func slice(of span: HTTPHead.Span) -> ByteBuffer {
        getSlice(at: readerIndex + Int(span.start), length: span.count)!
    }

    /// The bytes of `span` as a `String` (for logs and tests; the hot path compares bytes).
    @inlinable
    public func string(of span: HTTPHead.Span) -> String {
        getString(at: readerIndex + Int(span.start), length: span.count)!
    }
}

/// How a message's body is delimited (RFC 9112 §6.3), decided once from the head.
public enum HTTPBodyFraming: Sendable, Equatable {
    /// No body: the next message starts right after the head.
    case none
    /// Exactly this many bytes (more than zero; `Content-Length: 0` is `.none`).
    case length(Int)
    /// `Transfer-Encoding: chunked`; `ChunkedBodyTracker` finds the end.
    case chunked
    /// A response without length that ends when the upstream closes the connection.
    case untilClose
}
