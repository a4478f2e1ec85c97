internal import CHiredis

/// A reply from Redis.
public enum RESPValue: Sendable, Hashable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    case bulkString([UInt8])
    case null
    case array([RESPValue])

    public var string: String? {
        switch self {
        case let .simpleString(text): text
        case let .bulkString(bytes): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }
}

/// Incremental RESP parsing by hiredis's reader (`redisReaderFeed` / `redisReaderGetReply`): feed it
/// whatever bytes arrived, then take every complete reply. Not thread-safe: one per connection.
public final class RESPReader {
    public struct ProtocolError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    private let reader: UnsafeMutablePointer<redisReader>

    public init() {
        guard let reader = redisReaderCreate() else { preconditionFailure("redisReaderCreate: out of memory") }
        self.reader = reader
    }

    deinit {
        redisReaderFree(reader)
    }

    public func feed(_ bytes: UnsafeRawBufferPointer) throws(ProtocolError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        guard redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) == REDIS_OK else {
            throw ProtocolError(description: errorText())
        }
    }

    /// The next complete reply, or nil until more bytes arrive.
    public func next() throws(ProtocolError) -> RESPValue? {
        try nextRaw(\.value)
    }

    /// The next complete reply, handed to `body` as hiredis's own tree (valid only during the call,
    /// freed after it): for replies read on the hot path without building `RESPValue`s. Nil until
    /// more bytes arrive.
    func nextRaw<Result>(_ body: (RawReply) -> Result) throws(ProtocolError) -> Result? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else { throw ProtocolError(description: errorText()) }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return body(RawReply(reply.assumingMemoryBound(to: redisReply.self)))
    }

    private func errorText() -> String {
        withUnsafeBytes(of: reader.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let node = reply.pointee
        func text() -> [UInt8] {
            guard let str = node.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: Int(node.len)))
        }
        switch node.type {
        case REDIS_REPLY_STATUS: return .simpleString(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: text(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(node.integer)
        case REDIS_REPLY_STRING: return .bulkString(text())
        case REDIS_REPLY_ARRAY:
            var elements: [RESPValue] = []
            elements.reserveCapacity(Int(node.elements))
            for index in 0..<Int(node.elements) {
                if let element = node.element[index] { elements.append(convert(element)) }
            }
            return .array(elements)
        default: return .null
        }
    }
}

/// A reply as hiredis parsed it, read in place (no copies): valid only during the call it is handed
/// to (`RESPReader.nextRaw`, `RedisReplyReceiver.received`). Public so that a transport of another
/// module that runs hiredis's reader itself (`TollgateLoopRedis`) hands its replies over as they are.
public struct RawReply {
    /// hiredis's `redisReply *` (kept untyped so that CHiredis stays an internal import of Core).
    let raw: UnsafeMutableRawPointer

    /// `reply` must be a `redisReply *` from hiredis's reader, alive for as long as this value is used.
    public init(hiredisReply reply: UnsafeMutableRawPointer) {
        raw = reply
    }

    init(_ node: UnsafeMutablePointer<redisReply>) {
        raw = UnsafeMutableRawPointer(node)
    }

    var node: UnsafeMutablePointer<redisReply> { raw.assumingMemoryBound(to: redisReply.self) }

    /// The elements of an array reply; nil for any other kind.
    public var count: Int? { node.pointee.type == REDIS_REPLY_ARRAY ? Int(node.pointee.elements) : nil }

    /// Element `index` of an array reply as an integer; nil when it is anything else.
    public func integer(at index: Int) -> Int64? {
        guard let element = node.pointee.element[index], element.pointee.type == REDIS_REPLY_INTEGER else { return nil }
        return element.pointee.integer
    }

    /// The message of an error reply; nil for any other kind.
    public var error: String? {
        guard node.pointee.type == REDIS_REPLY_ERROR, let str = node.pointee.str else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: str, count: Int(node.pointee.len)), as: UTF8.self)
    }

    /// The whole reply, copied (for replies off the hot path).
    public var value: RESPValue { RESPReader.convert(node) }
}
