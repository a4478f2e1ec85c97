import Core
import NIOCore

/// Phase 7: the request as the upstream sees it, spliced into the bytes that arrived (never
/// re-encoded): hop-by-hop headers out (and any the client named in `Connection`), identity headers
/// out, `X-Request-Id`, `X-Forwarded-For/Proto/Host` and claim headers in, the normalized path, and
/// no `Expect` (the sidecar answers `100-continue` itself, after the phases have passed). A chunked
/// body goes on in its own framing, so `Transfer-Encoding` stays. And the response as the client
/// sees it: the upstream's head with the same kind of edits.
struct ForwardPhase {
    let trustedProxies: TrustedProxies

    /// The forwarded head's bytes.
    /// `reusing`: an empty buffer to build it in (see `HTTPHeadSplice.init`).
    func upstreamHead(for exchange: Exchange, peer: String, allocator: ByteBufferAllocator = .init(), reusing spare: consuming ByteBuffer? = nil) -> ByteBuffer {
        let head = exchange.head
        let bytes = exchange.headBytes
        // Consumed: the splice must hold the only reference, or writing into it would copy it.
        var splice = HTTPHeadSplice(head, allocator: allocator, reusing: consume spare)
        splice.removeHopByHop(in: bytes, keepUpgrade: head.isUpgradeRequest(in: bytes), keepTransferEncoding: true)
        splice.removeAll(.expect)
        // Identity headers come from verified tokens only: whatever the route, incoming ones go.
        for name in exchange.snapshot.identityHeaders { splice.removeAll(lowercased: name, in: bytes) }
        if let route = exchange.route, let token = exchange.token {
            for claim in route.forward.claims {
                // Values are checked by `headerValue`; a name the policy validated cannot fail.
                if let value = token.claims[claim.claim].flatMap(Self.headerValue) { try? splice.add(claim.header, value) }
            }
            if route.forward.stripAuthorization { splice.removeAll(.authorization) }
        }

        splice.removeAll(.xRequestId)
        exchange.requestID.withUTF8 { try? splice.add("x-request-id", bytes: $0) }
        let trusted = trustedProxies.isTrusted(peer)
        // The chain is kept and the peer appended, whoever the peer is (nginx's
        // `$proxy_add_x_forwarded_for`, HAProxy's `option forwardfor`): the right-most entry is the
        // one this sidecar vouches for, and the consumer decides whom it trusts before it. Trust
        // only decides which address the sidecar itself takes as the client IP (`TrustedProxies`).
        if let previous = head.joinedValues(ofLowercased: "x-forwarded-for", in: bytes) {
            splice.removeAll(.xForwardedFor)
            try? splice.add("x-forwarded-for", previous + ", " + peer)
        } else {
            try? splice.add("x-forwarded-for", peer)
        }
        // Proto and host describe this hop's client side: from an untrusted peer they are replaced.
        if !(trusted && head.firstIndex(of: .xForwardedProto) != nil) {
            splice.removeAll(.xForwardedProto)
            try? splice.add("x-forwarded-proto", exchange.isTLS ? "https" : "http")
        }
        if !(trusted && head.firstIndex(of: .xForwardedHost) != nil), let host = head.firstIndex(of: .host) {
            splice.removeAll(.xForwardedHost)
            try? splice.add("x-forwarded-host", bytes.slice(of: head.fields[host].value))
        }
        // The upstream always gets HTTP/1.1 (its connections are kept alive) and the normalized path.
        if !exchange.targetIsNormalized || head.minorVersion == 0 {
            splice.replaceStartLine(exchange.method + " " + exchange.path + exchange.query + " HTTP/1.1")
        }
        return splice.makeHead(from: bytes)
    }

    /// How a response body reaches the client.
    enum ResponseBody: Equatable {
        /// As it arrived: a length, chunked to an HTTP/1.1 client, or none.
        case asItCame
        /// Delimited by the upstream's close, to an HTTP/1.1 client: sent chunked (so the client
        /// connection stays usable).
        case chunkEncoded
        /// Delimited by the close to the client too (an HTTP/1.0 client, or a coding other than
        /// chunked): the client connection closes after it.
        case untilClose
        /// Chunked, to an HTTP/1.0 client: the data without its framing, until the close.
        case dechunked
    }

    static func responseBody(framing: HTTPBodyFraming, clientMinorVersion: Int, hasTransferEncoding: Bool) -> ResponseBody {
        switch framing {
        case .none, .length: .asItCame
        case .chunked: clientMinorVersion == 0 ? .dechunked : .asItCame
        case .untilClose: clientMinorVersion == 1 && !hasTransferEncoding ? .chunkEncoded : .untilClose
        }
    }

    /// The response head the client gets: hop-by-hop fields out (`Upgrade` kept for a switch,
    /// `Transfer-Encoding` for a chunked body passed on as it is), `X-Request-Id` unless the
    /// upstream set one, the exchange's response headers (replacing the upstream's of the same
    /// name), and the connection's fate.
    static func clientHead(
        _ head: HTTPHead, bytes: ByteBuffer, exchange: Exchange, isSwitch: Bool, body: ResponseBody, close: Bool,
        allocator: ByteBufferAllocator, reusing spare: consuming ByteBuffer? = nil
    ) -> ByteBuffer {
        var splice = HTTPHeadSplice(head, allocator: allocator, reusing: consume spare)
        splice.removeHopByHop(in: bytes, keepUpgrade: isSwitch, keepTransferEncoding: body == .asItCame || body == .untilClose)
        if head.firstIndex(of: .xRequestId) == nil { exchange.requestID.withUTF8 { try? splice.add("x-request-id", bytes: $0) } }
        for (name, value) in exchange.responseHeaders {
            splice.removeAll(lowercased: name, in: bytes)
            try? splice.add(name, value)
        }
        if body == .chunkEncoded { try? splice.add("transfer-encoding", "chunked") }
        if close {
            try? splice.add("connection", "close")
        } else if exchange.head.minorVersion == 0 {
            try? splice.add("connection", "keep-alive")
        }
        if head.minorVersion != exchange.head.minorVersion {
            let reason = head.reason.count > 0 ? bytes.string(of: head.reason) : ""
            splice.replaceStartLine((exchange.head.minorVersion == 0 ? "HTTP/1.0 " : "HTTP/1.1 ") + String(head.status) + " " + reason)
        }
        return splice.makeHead(from: bytes)
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
}
