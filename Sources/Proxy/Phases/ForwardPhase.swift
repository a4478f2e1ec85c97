import Core
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
        // Identity headers come from verified tokens only: whatever the route, incoming ones go.
        for name in exchange.snapshot.identityHeaders { headers.remove(name: name) }
        if let route = exchange.route, let token = exchange.token {
            for claim in route.forward.claims {
                if let value = token.claims[claim.claim].flatMap(Self.headerValue) { headers.add(name: claim.header, value: value) }
            }
            if route.forward.stripAuthorization { headers.remove(name: "authorization") }
        }

        headers.replaceOrAdd(name: "x-request-id", value: exchange.requestID)
        let trusted = trustedProxies.isTrusted(peer)
        // The chain is kept and the peer appended, whoever the peer is (nginx's
        // `$proxy_add_x_forwarded_for`, HAProxy's `option forwardfor`): the right-most entry is the
        // one this sidecar vouches for, and the consumer decides whom it trusts before it. Trust
        // only decides which address the sidecar itself takes as the client IP (`TrustedProxies`).
        let previous = headers[canonicalForm: "x-forwarded-for"].map(String.init)
        headers.remove(name: "x-forwarded-for")
        headers.add(name: "x-forwarded-for", value: (previous + [peer]).joined(separator: ", "))
        // Proto and host describe this hop's client side: from an untrusted peer they are replaced.
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

    /// A claim as a header value: strings as they are, numbers as written, booleans, and arrays of
    /// those joined with `,`. Objects, and any value with a control character (which could split the
    /// header), are not forwarded.
    static func headerValue(_ claim: JSONValue) -> String? {
        let text: String
        switch claim {
        case let .string(value): text = value
        case let .number(written, _): text = written
        case let .bool(value): text = value ? "true" : "false"
        case let .array(elements):
            let parts = elements.compactMap { element -> String? in
                if case .array = element { return nil }
                return headerValue(element)
            }
            guard parts.count == elements.count else { return nil }
            text = parts.joined(separator: ",")
        case .null, .object: return nil
        }
        guard text.utf8.count <= 4096, !HeaderBytes.hasControlByte(text) else { return nil }
        return text
    }

    static func isUpgradeRequest(_ head: HTTPRequestHead) -> Bool {
        head.headers.contains(name: "upgrade")
            && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
    }
}
