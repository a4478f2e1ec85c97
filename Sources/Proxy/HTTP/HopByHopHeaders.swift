import NIOHTTP1

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), and must not be
/// forwarded. Names a peer lists in `Connection` are hop-by-hop too: a client could otherwise use
/// `Connection: x-user-id` to make a proxy drop a header the upstream trusts, or keep one it should not.
enum HopByHopHeaders {
    static let names = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]

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

    private static let lowercased = names.map { Array($0.utf8) }
    private static let connection = Array("connection".utf8)
    private static let upgrade = Array("upgrade".utf8)

    /// By length first (hop-by-hop names are 2, 7, 10, 16, 17, 18 or 19 bytes long), then compared
    /// ignoring ASCII case.
    static func isHopByHop(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2, 7, 10, 16, 17, 18, 19: lowercased.contains { ASCIICase.equal(name.utf8, $0) }
        default: false
        }
    }
}

/// Header names compared the way HTTP compares them (ASCII case-insensitively), byte by byte,
/// without making a lower-cased copy.
enum ASCIICase {
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
