import TollgateLoop

#if canImport(Glibc)
    import Glibc
#endif

/// A host name to an IPv4 address with getaddrinfo (files, then DNS, as the system is configured).
/// It blocks: call it only where a pause of the loop is acceptable (a Redis connection attempt, see
/// `LoopRedisConnection.Configuration.host`), never on the request path. IPv4 only, as `Socket.connect`.
public enum HostResolver {
    public struct Failure: Error, Equatable {
        public let message: String
    }

    public static func resolveIPv4(_ host: String, port: UInt16) -> Result<IPv4Endpoint, Failure> {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else {
            return .failure(Failure(message: String(cString: gai_strerror(status))))
        }
        defer { freeaddrinfo(list) }
        var entry = list
        while let current = entry {
            if current.pointee.ai_family == AF_INET, let address = current.pointee.ai_addr {
                let ipv4 = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in.self)
                return .success(IPv4Endpoint(addressNetworkOrder: ipv4.sin_addr.s_addr, port: port))
            }
            entry = current.pointee.ai_next
        }
        return .failure(Failure(message: "no IPv4 address"))
    }
}
