import TollgateLoop

#if canImport(Glibc)
    import Glibc
#endif

/// The test's side of a connection: plain blocking calls with a receive/send timeout, so a
/// defect fails a test instead of hanging it.
struct BlockingSocket {
    enum Failure: Error, Equatable {
        case connect(Int32), io(Int32), timedOut, shortEOF(Int)
    }

    let fd: Int32

    static func connect(port: UInt16, timeoutSeconds: Int = 10) throws -> BlockingSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.connect(errno) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            Glibc.close(fd)
            throw Failure.connect(code)
        }
        return BlockingSocket(fd: fd)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                throw errno == EAGAIN ? Failure.timedOut : Failure.io(errno)
            }
            offset += n
        }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in try write(buffer) }
    }

    /// One read: the count, 0 at end of file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw errno == EAGAIN ? Failure.timedOut : Failure.io(errno)
        }
    }

    /// Everything until end of file.
    func readToEnd(limit: Int = 1 << 20) throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = try chunk.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) throws in try read(into: buffer) }
            if n == 0 { return result }
            result += chunk[..<n]
            if result.count > limit { throw Failure.io(EFBIG) }
        }
    }

    func readExactly(_ count: Int) throws -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = try result.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) throws in
                try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[offset...]))
            }
            if n == 0 { throw Failure.shortEOF(offset) }
            offset += n
        }
        return result
    }

    func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    func close() { Glibc.close(fd) }

    /// Closes with RST instead of FIN.
    func reset() {
        Socket.setLingerZero(fd)
        Glibc.close(fd)
    }
}

/// A loopback port nothing listens on (bound, then closed): connecting is refused.
func refusedPort() throws -> UInt16 {
    let fd = try Socket.listen(on: IPv4Endpoint("127.0.0.1:0")!, reusePort: false)
    let port = Socket.localPort(fd)!
    Socket.close(fd)
    return port
}

/// A loopback port where `connect` hangs: a backlog-0 listener whose queue is already full, so
/// Linux drops further SYNs (as Tests/TestSupport/StalledListener.swift does for the proxy).
final class StalledPort {
    let port: UInt16
    private let listener: Int32
    private let filler: BlockingSocket

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        Glibc.listen(fd, 0)
        listener = fd
        port = Socket.localPort(fd)!
        filler = try BlockingSocket.connect(port: port)
        usleep(20_000)
    }

    deinit {
        filler.close()
        Glibc.close(listener)
    }
}

/// A repeating byte pattern with a prime period: any slice can be written or checked with one
/// call (`memcmp`), so 64 MiB cost little even in a debug build. Immutable once made, so the
/// writer and reader threads of a test share it (hence `@unchecked Sendable`).
final class Pattern: @unchecked Sendable {
    static let period = 65_521
    static let maxSlice = 65_536
    private let base: UnsafeMutableRawBufferPointer

    init() {
        base = .allocate(byteCount: Self.period + Self.maxSlice, alignment: 16)
        var state: UInt32 = 0x9E37_79B9
        for index in 0..<Self.period {
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            base[index] = UInt8(truncatingIfNeeded: state)
        }
        for index in Self.period..<base.count { base[index] = base[index - Self.period] }
    }

    deinit { base.deallocate() }

    /// The pattern's bytes from stream offset `offset` (at most `maxSlice`).
    func slice(at offset: Int, count: Int) -> UnsafeRawBufferPointer {
        precondition(count <= Self.maxSlice)
        return UnsafeRawBufferPointer(rebasing: base[(offset % Self.period)..<(offset % Self.period + count)])
    }

    /// Whether `buffer` is the pattern from stream offset `offset`.
    func matches(_ buffer: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        memcmp(slice(at: offset, count: buffer.count).baseAddress!, buffer.baseAddress!, buffer.count) == 0
    }
}

/// A thread for a test's client side (the loop's thread type serves: it is only a pthread).
func onThread(_ name: String, _ body: @escaping @Sendable () -> Void) -> EventLoopThread {
    EventLoopThread(name: name) { _ in body() }
}
