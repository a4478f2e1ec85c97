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
        var listed: [String] = []
        for value in headers[canonicalForm: "connection"] {
            let token = value.lowercased()
            if !(keepUpgrade && token == "upgrade") { listed.append(String(token)) }
        }
        let upgrade = keepUpgrade ? headers.first(name: "upgrade") : nil
        for name in names { headers.remove(name: name) }
        for name in listed where !name.isEmpty { headers.remove(name: name) }
        if let upgrade {
            headers.add(name: "connection", value: "upgrade")
            headers.add(name: "upgrade", value: upgrade)
        }
    }
}
