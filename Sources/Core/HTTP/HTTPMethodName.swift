/// The request methods the head parser accepts: those of llhttp (the parser behind SwiftNIO's
/// decoder, the oracle of our differential tests) in HTTP mode, minus `CONNECT`, which a reverse
/// proxy does not serve. A method outside this list is refused with 501, as llhttp refuses it.
public enum HTTPMethodName: UInt8, Sendable, CaseIterable {
    case DELETE, GET, HEAD, POST, PUT, CONNECT, OPTIONS, TRACE
    case COPY, LOCK, MKCOL, MOVE, PROPFIND, PROPPATCH, SEARCH, UNLOCK, BIND, REBIND, UNBIND, ACL
    case REPORT, MKACTIVITY, CHECKOUT, MERGE, MSEARCH, NOTIFY, SUBSCRIBE, UNSUBSCRIBE
    case PATCH, PURGE, MKCALENDAR, LINK, UNLINK, SOURCE, QUERY

    /// The method as sent (upper case: methods are case-sensitive, RFC 9110 §9.1).
    public var spelling: StaticString {
        switch self {
        case .DELETE: "DELETE"
        case .GET: "GET"
        case .HEAD: "HEAD"
        case .POST: "POST"
        case .PUT: "PUT"
        case .CONNECT: "CONNECT"
        case .OPTIONS: "OPTIONS"
        case .TRACE: "TRACE"
        case .COPY: "COPY"
        case .LOCK: "LOCK"
        case .MKCOL: "MKCOL"
        case .MOVE: "MOVE"
        case .PROPFIND: "PROPFIND"
        case .PROPPATCH: "PROPPATCH"
        case .SEARCH: "SEARCH"
        case .UNLOCK: "UNLOCK"
        case .BIND: "BIND"
        case .REBIND: "REBIND"
        case .UNBIND: "UNBIND"
        case .ACL: "ACL"
        case .REPORT: "REPORT"
        case .MKACTIVITY: "MKACTIVITY"
        case .CHECKOUT: "CHECKOUT"
        case .MERGE: "MERGE"
        case .MSEARCH: "M-SEARCH"
        case .NOTIFY: "NOTIFY"
        case .SUBSCRIBE: "SUBSCRIBE"
        case .UNSUBSCRIBE: "UNSUBSCRIBE"
        case .PATCH: "PATCH"
        case .PURGE: "PURGE"
        case .MKCALENDAR: "MKCALENDAR"
        case .LINK: "LINK"
        case .UNLINK: "UNLINK"
        case .SOURCE: "SOURCE"
        case .QUERY: "QUERY"
        }
    }

    /// The method `bytes` spell exactly, if it is one of these. The three common ones first.
    @inlinable
    static func recognise(_ bytes: UnsafeRawBufferPointer) -> HTTPMethodName? {
        if bytes.count == 3, bytes[0] == UInt8(ascii: "G"), bytes[1] == UInt8(ascii: "E"), bytes[2] == UInt8(ascii: "T") {
            return .GET
        }
        for method in allCases {
            let spelling = method.spelling
            guard spelling.utf8CodeUnitCount == bytes.count else { continue }
            if UnsafeRawBufferPointer(start: spelling.utf8Start, count: spelling.utf8CodeUnitCount).elementsEqual(bytes) {
                return method
            }
        }
        return nil
    }
}
