import NIOHTTP1

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), and must not be
/// forwarded. Names a peer lists in `Connection` are hop-by-hop too: a client could otherwise use
/// `Connection: x-user-id` to make a proxy drop a header the upstream trusts, or keep one it should not.
///
/// The names: `connection`, `keep-alive`, `proxy-connection`, `te`, `trailer`, `transfer-encoding`,
/// `upgrade`, `proxy-authenticate`, `proxy-authorization` (see `isHopByHop`).
enum HopByHopHeaders {
    /// Removes hop-by-hop headers and those `Connection` names. `keepUpgrade` keeps `Upgrade` and a
    /// `Connection: upgrade` for a protocol switch (WebSocket) that the proxy tunnels.
    ///
    /// Runs on every request and every response: one pass to find out whether anything must go
    /// (most requests carry none), and when something must, one pass to keep the rest, without a
    /// lower-cased copy of any name (bytes compared, no `Character` work).
    static func strip(_ headers: inout HTTPHeaders, keepUpgrade: Bool = false) {
        var listed: [Substring.UTF8View] = []
        var found = false
        for (name, value) in headers where isHopByHop(name) {
            found = true
            if ASCIICase.equal(name.utf8, connection) {
                for token in value[...].utf8.split(separator: UInt8(ascii: ",")) {
                    let token = ASCIICase.trimmingSpaces(token)
                    if !token.isEmpty, !(keepUpgrade && ASCIICase.equal(token, upgrade)) { listed.append(token) }
                }
            }
        }
        guard found else { return }
        var kept: [(String, String)] = []
        kept.reserveCapacity(headers.count)
        for (name, value) in headers where !isHopByHop(name) && !listed.contains(where: { ASCIICase.equal(name.utf8, $0) }) {
            kept.append((name, value))
        }
        if keepUpgrade, let upgrade = headers.first(name: "upgrade") {
            kept.append(("connection", "upgrade"))
            kept.append(("upgrade", upgrade))
        }
        headers = HTTPHeaders(kept)
    }

    /// `StaticString`s, not static byte arrays: a static array is one object every event loop
    /// retains and releases per use, a cache line the cores pass back and forth on every request.
    private static let connection: StaticString = "connection"
    private static let upgrade: StaticString = "upgrade"

    /// By length first, then compared ignoring ASCII case: the names of `names`, spelled out.
    static func isHopByHop(_ name: String) -> Bool {
        let utf8 = name.utf8
        switch utf8.count {
        case 2: return ASCIICase.equal(utf8, "te")
        case 7: return ASCIICase.equal(utf8, "trailer") || ASCIICase.equal(utf8, upgrade)
        case 10: return ASCIICase.equal(utf8, connection) || ASCIICase.equal(utf8, "keep-alive")
        case 16: return ASCIICase.equal(utf8, "proxy-connection")
        case 17: return ASCIICase.equal(utf8, "transfer-encoding")
        case 18: return ASCIICase.equal(utf8, "proxy-authenticate")
        case 19: return ASCIICase.equal(utf8, "proxy-authorization")
        default: return false
        }
    }
}

/// Header names compared the way HTTP compares them (ASCII case-insensitively), byte by byte,
/// without making a lower-cased copy.
enum ASCIICase {
    static func equal<A: Collection<UInt8>>(_ lhs: A, _ rhs: StaticString) -> Bool {
        rhs.withUTF8Buffer { equal(lhs, $0) }
    }


    static func equal<A: Collection<UInt8>, B: Collection<UInt8>>(_ lhs: A, _ rhs: B) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var left = lhs.startIndex
        var right = rhs.startIndex
        while left != lhs.endIndex {
            if lower(lhs[left]) != lower(rhs[right]) { return false }
            lhs.formIndex(after: &left)
            rhs.formIndex(after: &right)
        }
        return true
    }

    static func trimmingSpaces(_ bytes: Substring.UTF8View) -> Substring.UTF8View {
        var bytes = bytes
        while let first = bytes.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { bytes = bytes.dropLast() }
        return bytes
    }

    @inline(__always)
    private static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }
}
