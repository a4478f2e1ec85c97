import NIOHTTP1

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), and must not be
/// forwarded. Names a peer lists in `Connection` are hop-by-hop too: a client could otherwise use
/// `Connection: x-user-id` to make a proxy drop a header the upstream trusts, or keep one it should not.
enum HopByHopHeaders {
    static let names: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]

    /// Removes hop-by-hop headers and those `Connection` names. `keepUpgrade` keeps `Upgrade` and a
    /// `Connection: upgrade` for a protocol switch (WebSocket) that the proxy tunnels.
    static func strip(_ headers: inout HTTPHeaders, keepUpgrade: Bool = false) {
        // Most messages carry none of these: one pass to find out, instead of a removal scan per name.
        var listed: [String] = []
        var found = false
        for (name, value) in headers where isHopByHop(name) {
            found = true
            if name.utf8.count == 10, name.lowercased() == "connection" {
                for token in value.split(separator: ",") {
                    let lowered = token.trimmedSpaces.lowercased()
                    if !(keepUpgrade && lowered == "upgrade"), !lowered.isEmpty { listed.append(lowered) }
                }
            }
        }
        guard found else { return }
        let upgrade = keepUpgrade ? headers.first(name: "upgrade") : nil
        for name in names { headers.remove(name: name) }
        for name in listed { headers.remove(name: name) }
        if let upgrade {
            headers.add(name: "connection", value: "upgrade")
            headers.add(name: "upgrade", value: upgrade)
        }
    }

    /// By length first: hop-by-hop names are 2, 7, 10, 16, 17, 18 or 19 bytes long.
    private static func isHopByHop(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2, 7, 10, 16, 17, 18, 19: return names.contains(name.lowercased())
        default: return false
        }
    }
}
