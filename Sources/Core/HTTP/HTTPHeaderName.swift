/// The header names the sidecar reads or edits, recognised once while a head is parsed so every
/// later lookup is a compare of one byte per field instead of a case-insensitive compare of names.
///
/// Names the policy asks for (claim headers, header match rules) are looked up by their bytes
/// instead: `HTTPHead.firstIndex(ofLowercased:)`.
public enum HTTPHeaderName: UInt8, Sendable, CaseIterable {
    case other = 0
    case host
    case contentLength
    case transferEncoding
    case connection
    case upgrade
    case expect
    case authorization
    case xRequestId
    case xForwardedFor
    case xForwardedProto
    case xForwardedHost
    case traceparent
    case keepAlive
    case proxyConnection
    case te
    case trailer
    case proxyAuthenticate
    case proxyAuthorization

    /// The lower-cased spelling.
    public var lowercased: StaticString {
        switch self {
        case .other: ""
        case .host: "host"
        case .contentLength: "content-length"
        case .transferEncoding: "transfer-encoding"
        case .connection: "connection"
        case .upgrade: "upgrade"
        case .expect: "expect"
        case .authorization: "authorization"
        case .xRequestId: "x-request-id"
        case .xForwardedFor: "x-forwarded-for"
        case .xForwardedProto: "x-forwarded-proto"
        case .xForwardedHost: "x-forwarded-host"
        case .traceparent: "traceparent"
        case .keepAlive: "keep-alive"
        case .proxyConnection: "proxy-connection"
        case .te: "te"
        case .trailer: "trailer"
        case .proxyAuthenticate: "proxy-authenticate"
        case .proxyAuthorization: "proxy-authorization"
        }
    }

    /// Describes one connection, not the message (RFC 9110 §7.6.1): never forwarded. Names a peer
    /// lists in `Connection` are hop-by-hop too; the forwarding code reads those from the value.
    public var isHopByHop: Bool {
        switch self {
        case .connection, .keepAlive, .proxyConnection, .te, .trailer, .transferEncoding, .upgrade,
             .proxyAuthenticate, .proxyAuthorization:
            true
        default:
            false
        }
    }

    /// Recognises `name` (any case). By length first, so most names cost one switch and at most
    /// one compare.
    @inlinable
    static func classify(_ name: UnsafeRawBufferPointer) -> HTTPHeaderName {
        let candidate: HTTPHeaderName
        switch name.count {
        case 2: candidate = .te
        case 4: candidate = .host
        case 6: candidate = .expect
        case 7:
            candidate = ASCII.lowercased(name[0]) == UInt8(ascii: "u") ? .upgrade : .trailer
        case 10:
            candidate = ASCII.lowercased(name[0]) == UInt8(ascii: "c") ? .connection : .keepAlive
        case 11: candidate = .traceparent
        case 12: candidate = .xRequestId
        case 13: candidate = .authorization
        case 14: candidate = .contentLength
        case 15: candidate = .xForwardedFor
        case 16:
            candidate = ASCII.lowercased(name[0]) == UInt8(ascii: "x") ? .xForwardedHost : .proxyConnection
        case 17:
            candidate = ASCII.lowercased(name[0]) == UInt8(ascii: "x") ? .xForwardedProto : .transferEncoding
        case 18: candidate = .proxyAuthenticate
        case 19: candidate = .proxyAuthorization
        default: return .other
        }
        return ASCII.equalsLowercased(name, candidate.lowercased) ? candidate : .other
    }
}

/// Byte-level ASCII helpers for header text: no `String`, no `Character`.
@usableFromInline
enum ASCII {
    @inlinable @inline(__always)
    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
    }

    /// `bytes` equal `lowercased` ignoring ASCII case; `lowercased` must be lower case already.
    @inlinable
    static func equalsLowercased(_ bytes: UnsafeRawBufferPointer, _ lowercased: StaticString) -> Bool {
        guard bytes.count == lowercased.utf8CodeUnitCount else { return false }
        let other = lowercased.utf8Start
        for index in 0..<bytes.count where ASCII.lowercased(bytes[index]) != other[index] {
            return false
        }
        return true
    }

    @inlinable
    static func equalsLowercased(_ bytes: UnsafeRawBufferPointer, _ lowercased: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count == lowercased.count else { return false }
        for index in 0..<bytes.count where ASCII.lowercased(bytes[index]) != lowercased[index] {
            return false
        }
        return true
    }
}
