#if canImport(Glibc)
    import Glibc
#endif

/// An IPv4 address and port, parsed once at start-up (`127.0.0.1:8080`).
public struct IPv4Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// `in_addr.s_addr`: network byte order.
    public let addressNetworkOrder: UInt32
    public let port: UInt16

    public init(addressNetworkOrder: UInt32, port: UInt16) {
        self.addressNetworkOrder = addressNetworkOrder
        self.port = port
    }

    /// `A.B.C.D:PORT`; nil for anything else (host names are not resolved on a loop).
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        var address = in_addr()
        let parsed = String(text[..<colon]).withCString { inet_pton(AF_INET, $0, &address) }
        guard parsed == 1 else { return nil }
        self.init(addressNetworkOrder: address.s_addr, port: port)
    }

    public func with(port: UInt16) -> IPv4Endpoint {
        IPv4Endpoint(addressNetworkOrder: addressNetworkOrder, port: port)
    }

    public var description: String {
        let a = UInt32(bigEndian: addressNetworkOrder)
        return "\(a >> 24).\((a >> 16) & 0xFF).\((a >> 8) & 0xFF).\(a & 0xFF):\(port)"
    }
}
