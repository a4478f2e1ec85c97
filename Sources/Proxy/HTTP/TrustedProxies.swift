import NIOCore

/// `--trusted-proxies`: the networks whose `X-Forwarded-For` the sidecar believes. The client IP
/// (for `ip` limit keys and logs) is the socket peer, unless the peer is trusted; then it is the
/// right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
struct TrustedProxies: Sendable {
    struct Network: Sendable, Equatable {
        let address: [UInt8]   // 4 or 16 bytes
        let prefixLength: Int

        func contains(_ candidate: [UInt8]) -> Bool {
            guard candidate.count == address.count else { return false }
            var remaining = prefixLength
            for index in 0..<address.count where remaining > 0 {
                let bits = min(8, remaining)
                let mask: UInt8 = bits == 8 ? 0xFF : ~(0xFF >> UInt8(bits))
                if candidate[index] & mask != address[index] & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    let networks: [Network]

    static let none = TrustedProxies(networks: [])

    /// Parses `10.0.0.0/8,127.0.0.1,::1/128`; nil with the bad entry.
    static func parse(_ list: String) -> Result<TrustedProxies, ParseError> {
        var networks: [Network] = []
        for entry in list.split(separator: ",").map({ String($0.trimmedSpaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "/", maxSplits: 1)
            guard let address = IPAddressBytes.parse(String(parts[0])) else { return .failure(ParseError(entry: entry)) }
            let maximum = address.count * 8
            var prefix = maximum
            if parts.count == 2 {
                guard let value = Int(parts[1]), (0...maximum).contains(value) else { return .failure(ParseError(entry: entry)) }
                prefix = value
            }
            networks.append(Network(address: address, prefixLength: prefix))
        }
        return .success(TrustedProxies(networks: networks))
    }

    struct ParseError: Error, CustomStringConvertible {
        let entry: String
        var description: String { "invalid --trusted-proxies entry \"\(entry)\" (expected an IP address or CIDR)" }
    }

    func isTrusted(_ address: String) -> Bool {
        guard !networks.isEmpty, let bytes = IPAddressBytes.parse(address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// The client's address given the socket peer and the incoming `X-Forwarded-For` values.
    func clientAddress(peer: String, forwardedFor: [Substring]) -> String {
        guard isTrusted(peer) else { return peer }
        let chain = forwardedFor.flatMap { $0.split(separator: ",") }.map { String($0.trimmedSpaces) }
        for hop in chain.reversed() where !hop.isEmpty {
            if !isTrusted(hop) { return IPAddressBytes.parse(hop) != nil ? hop : peer }
        }
        return chain.first(where: { IPAddressBytes.parse($0) != nil }) ?? peer
    }
}

/// Textual IPv4 / IPv6 addresses to bytes, through NIO's own parser.
enum IPAddressBytes {
    static func parse(_ text: String) -> [UInt8]? {
        guard let address = try? SocketAddress(ipAddress: text, port: 0) else { return nil }
        switch address {
        case let .v4(v4):
            return withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case let .v6(v6):
            return withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        default:
            return nil
        }
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (optional white space in header lists).
    var trimmedSpaces: Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
