import NIOHTTP1

/// Phase 7: the request as the upstream sees it. Hop-by-hop headers out (and any the client named
/// in `Connection`), `X-Request-Id`, `X-Forwarded-For/Proto/Host` in, the normalized path, and no
/// `Expect` (the sidecar answers `100-continue` itself, after the phases have passed).
struct ForwardPhase {
    let trustedProxies: TrustedProxies

    func upstreamHead(for exchange: Exchange, peer: String) -> HTTPRequestHead {
        var headers = exchange.head.headers
        let isUpgrade = Self.isUpgradeRequest(exchange.head)
        HopByHopHeaders.strip(&headers, keepUpgrade: isUpgrade)
        headers.remove(name: "expect")

        headers.replaceOrAdd(name: "x-request-id", value: exchange.requestID)
        let trusted = trustedProxies.isTrusted(peer)
        // From an untrusted peer, incoming X-Forwarded-* are spoofable: replace them, never extend them.
        let previous = trusted ? headers[canonicalForm: "x-forwarded-for"].map(String.init) : []
        headers.remove(name: "x-forwarded-for")
        headers.add(name: "x-forwarded-for", value: (previous + [peer]).joined(separator: ", "))
        if !(trusted && headers.contains(name: "x-forwarded-proto")) {
            headers.replaceOrAdd(name: "x-forwarded-proto", value: exchange.isTLS ? "https" : "http")
        }
        if !(trusted && headers.contains(name: "x-forwarded-host")), let host = exchange.head.headers.first(name: "host") {
            headers.replaceOrAdd(name: "x-forwarded-host", value: host)
        }
        if exchange.head.headers.contains(name: "transfer-encoding") {
            // Chunked framing is re-created by the encoder for the upstream connection.
            headers.add(name: "transfer-encoding", value: "chunked")
        }
        return HTTPRequestHead(
            version: .http1_1, method: exchange.head.method, uri: exchange.path + exchange.query, headers: headers)
    }

    static func isUpgradeRequest(_ head: HTTPRequestHead) -> Bool {
        head.headers.contains(name: "upgrade")
            && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
    }
}
