import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A loopback port where `connect()` hangs: the handshake is never completed, as with a firewall
/// that drops SYNs or a host that is gone.
///
/// On loopback a closed port refuses at once and an open one completes the handshake in the
/// kernel, even when the process never calls `accept()` (or is stopped), so neither tests a
/// connect timeout. What does: a listening socket with a backlog of 0 whose accept queue is already
/// full. Linux then drops each new SYN (`tcp_abort_on_overflow` is 0 by default), and the client's
/// `connect()` waits on SYN retransmits — seconds — until its own timeout gives up.
public final class StalledListener {
    public let port: Int
    private let listener: Int32
    private var fillers: [Int32] = []

    public enum Failure: Error {
        case socket(Int32)
        case notStalled
    }

    public init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw Failure.socket(errno) }
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 0) == 0 else {
            let code = errno
            close(listener)
            throw Failure.socket(code)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = Int(UInt16(bigEndian: address.sin_port))
        // Fill the queue: the first connection is completed by the kernel and left unaccepted.
        fillers.append(try Self.connectNonBlocking(port: port))
        usleep(20_000)
        // Prove it: a further connect must still be pending after a while (its SYN was dropped).
        let probe = try Self.connectNonBlocking(port: port)
        fillers.append(probe)
        var poller = pollfd(fd: probe, events: Int16(POLLOUT), revents: 0)
        guard poll(&poller, 1, 200) == 0 else { throw Failure.notStalled }
    }

    deinit {
        for fd in fillers { close(fd) }
        close(listener)
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private static func connectNonBlocking(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw Failure.socket(errno) }
        var address = loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 || errno == EINPROGRESS else {
            let code = errno
            close(fd)
            throw Failure.socket(code)
        }
        return fd
    }
}
