import CEventLoopShim

#if canImport(Glibc)
    import Glibc
#endif

/// The socket calls of the loop, each a thin wrapper that retries `EINTR` and sorts the outcome
/// into an `IOResult`. Writes use `send`/`sendmsg` with `MSG_NOSIGNAL`: a peer that reset must be
/// a result, not a `SIGPIPE` that kills the process.
public enum Socket {
    @inline(__always)
    static func classify(_ code: Int32) -> IOResult {
        switch code {
        case EAGAIN: .wouldBlock
        case ECONNRESET, EPIPE, ETIMEDOUT, ENOTCONN: .reset
        default: .failed(code)
        }
    }

    /// One `read` into `count` bytes at `buffer`.
    @inline(__always)
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int) -> IOResult {
        while true {
            let n = Glibc.read(fd, buffer, count)
            if n > 0 { return .transferred(n) }
            if n == 0 { return .endOfFile }
            let code = errno
            if code != EINTR { return classify(code) }
        }
    }

    /// One `readv` into two segments (the free space of a ring that wraps).
    public static func readv(
        _ fd: Int32, _ first: UnsafeMutableRawPointer, _ firstCount: Int, _ second: UnsafeMutableRawPointer, _ secondCount: Int
    ) -> IOResult {
        withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { vectors in
            vectors[0] = iovec(iov_base: first, iov_len: firstCount)
            vectors[1] = iovec(iov_base: second, iov_len: secondCount)
            while true {
                let n = Glibc.readv(fd, vectors.baseAddress, 2)
                if n > 0 { return .transferred(n) }
                if n == 0 { return .endOfFile }
                let code = errno
                if code != EINTR { return classify(code) }
            }
        }
    }

    /// One `send` of `count` bytes; a partial write is `.transferred` of fewer bytes.
    @inline(__always)
    public static func write(_ fd: Int32, from buffer: UnsafeRawPointer, count: Int) -> IOResult {
        while true {
            let n = Glibc.send(fd, buffer, count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return n == 0 ? .wouldBlock : .transferred(n) }
            let code = errno
            if code != EINTR { return classify(code) }
        }
    }

    /// One gathered write of up to `iovecs.count` segments (`sendmsg`, so `MSG_NOSIGNAL` applies).
    public static func writev(_ fd: Int32, _ iovecs: UnsafeMutableBufferPointer<iovec>) -> IOResult {
        var message = msghdr()
        message.msg_iov = iovecs.baseAddress
        message.msg_iovlen = iovecs.count
        while true {
            let n = Glibc.sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
            if n >= 0 { return n == 0 ? .wouldBlock : .transferred(n) }
            let code = errno
            if code != EINTR { return classify(code) }
        }
    }

    /// Two segments in one `sendmsg` (the held bytes of a ring that wraps).
    public static func writev(
        _ fd: Int32, _ first: UnsafeRawPointer, _ firstCount: Int, _ second: UnsafeRawPointer, _ secondCount: Int
    ) -> IOResult {
        withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2) { vectors in
            vectors[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: first), iov_len: firstCount)
            vectors[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: second), iov_len: secondCount)
            return writev(fd, vectors)
        }
    }

    /// `shutdown(SHUT_WR)`: the peer reads end-of-file once what was written is read; our reading
    /// side stays open (a half-close).
    @discardableResult
    public static func shutdownWrite(_ fd: Int32) -> IOResult {
        if Glibc.shutdown(fd, Int32(SHUT_WR)) == 0 { return .transferred(0) }
        return classify(errno)
    }

    /// `close`, once: an `EINTR` from close must not be retried on Linux (the fd is gone already).
    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Makes the next `close` send RST instead of FIN (tests cut connections this way).
    public static func setLingerZero(_ fd: Int32) {
        _ = tg_set_linger_zero(fd)
    }

    public static func setNoDelay(_ fd: Int32) {
        _ = tg_set_nodelay(fd)
    }

    /// The outcome of a non-blocking connect once the socket reported writable (or an error):
    /// nil when connected, else the errno.
    public static func pendingConnectError(_ fd: Int32) -> Int32? {
        let error = tg_socket_error(fd)
        if error == 0 { return nil }
        return error < 0 ? -error : error
    }

    public enum ConnectResult: Equatable, Sendable {
        case connected(Int32)
        /// Under way: completion is the socket's writable edge, then `pendingConnectError`.
        case inProgress(Int32)
        case failed(Int32)
    }

    /// A non-blocking TCP connect to an IPv4 endpoint.
    public static func connect(to endpoint: IPv4Endpoint) -> ConnectResult {
        var inProgress: Int32 = 0
        let fd = tg_connect_tcp4(endpoint.addressNetworkOrder, endpoint.port, &inProgress)
        if fd < 0 { return .failed(-fd) }
        return inProgress != 0 ? .inProgress(fd) : .connected(fd)
    }

    public enum AcceptResult: Equatable, Sendable {
        case accepted(Int32)
        case wouldBlock
        case failed(Int32)
    }

    /// `accept4` (non-blocking, close-on-exec); `ECONNABORTED` and `EINTR` are retried.
    @inline(__always)
    public static func accept(_ listener: Int32) -> AcceptResult {
        while true {
            let fd = tg_accept(listener)
            if fd >= 0 { return .accepted(fd) }
            let code = -fd
            switch code {
            case EINTR, ECONNABORTED: continue
            case EAGAIN: return .wouldBlock
            default: return .failed(code)
            }
        }
    }

    public struct ListenError: Error, Equatable, Sendable, CustomStringConvertible {
        public let endpoint: IPv4Endpoint
        public let code: Int32
        public var description: String { "cannot listen on \(endpoint): \(String(cString: strerror(code)))" }
    }

    /// A non-blocking listener; with `reusePort`, one per loop on the same port (the kernel spreads
    /// new connections over them, so no loop hands a connection to another).
    public static func listen(on endpoint: IPv4Endpoint, backlog: Int32 = 1024, reusePort: Bool) throws(ListenError) -> Int32 {
        let fd = tg_listen_tcp4(endpoint.addressNetworkOrder, endpoint.port, backlog, reusePort ? 1 : 0)
        if fd < 0 { throw ListenError(endpoint: endpoint, code: -fd) }
        return fd
    }

    /// The port a socket is bound to (what port 0 became).
    public static func localPort(_ fd: Int32) -> UInt16? {
        let port = tg_local_port(fd)
        return port < 0 ? nil : UInt16(port)
    }
}
