import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A blocking loopback client that can end its connection in the ways a real client does when it
/// goes away mid-exchange: an RST (`SO_LINGER` 0 and close), a FIN (shutdown of the write side),
/// or a close with or without unread bytes. The leak tests cut thousands of these at random points;
/// `RawHTTPConnection` is the polite client, this is the rude one.
final class CutConnection {
    enum Failure: Error {
        case connect(Int32)
        case send(Int32)
        case receive(Int32)
        case closed
        case malformed(String)
    }

    let fd: Int32
    private var buffer: [UInt8] = []
    private var ended = false

    init(port: Int, timeout: TimeInterval = 10) throws {
        fd = try Self.connected(port: port)
        var value = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    private static func connected(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.connect(errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(fd)
            throw Failure.connect(code)
        }
        return fd
    }

    deinit {
        if !ended { Glibc.close(fd) }
    }

    /// How long a read waits before it throws.
    func setReadTimeout(seconds: Int) {
        var value = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0, errno == EINTR { continue }
                if n < 0 { throw Failure.send(errno) }
                offset += n
            }
        }
    }

    /// Sends without blocking until the socket buffer is full or `count` bytes are out: for a
    /// peer (through the proxy) that reads nothing. Returns the bytes sent.
    func sendUntilFull(_ count: Int) -> Int {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) }
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 65_536)
        var sent = 0
        while sent < count {
            let n = chunk.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, min($0.count, count - sent), Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
        return sent
    }

    /// An RST: the kernel discards what is queued and resets the connection.
    func reset() {
        guard !ended else { return }
        ended = true
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        Glibc.close(fd)
    }

    /// A plain close (a FIN, or an RST when unread bytes are in the receive buffer).
    func close() {
        guard !ended else { return }
        ended = true
        Glibc.close(fd)
    }

    /// A FIN with the read side still open.
    func shutdownWrite() { _ = shutdown(fd, Int32(SHUT_WR)) }

    /// One response: status, headers and, for a Content-Length or chunked body, the body;
    /// `bodyLimit` reads at most that much of a Content-Length body and leaves the rest unread.
    func readResponse(bodyLimit: Int = .max) throws -> (status: Int, headers: [String: String], body: [UInt8]) {
        let head = String(decoding: try readUntil([13, 10, 13, 10]), as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1.1 "), let status = Int(statusLine.dropFirst(9).prefix(3)) else {
            throw Failure.malformed(lines.first ?? "")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        if let length = headers["content-length"].flatMap(Int.init) {
            return (status, headers, try readExactly(min(length, bodyLimit)))
        }
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var body: [UInt8] = []
            while true {
                let line = String(decoding: try readUntil([13, 10]), as: UTF8.self)
                guard let size = Int(line.split(separator: ";").first ?? "", radix: 16) else { throw Failure.malformed(line) }
                if size == 0 {
                    _ = try readUntil([13, 10])
                    return (status, headers, body)
                }
                body += try readExactly(size)
                _ = try readExactly(2)
            }
        }
        return (status, headers, [])
    }

    /// Whatever arrives until the peer closes (nil on a reset).
    func readToEnd() throws -> [UInt8]? {
        var output = buffer
        buffer.removeAll()
        while true {
            switch try receive() {
            case let .some(chunk): output += chunk
            case .none: return output
            }
        }
    }

    private func receive() throws -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { return Array(chunk[0..<n]) }
            if n == 0 { return nil }
            if errno == EINTR { continue }
            if errno == ECONNRESET { return nil }
            throw Failure.receive(errno)
        }
    }

    private func readUntil(_ delimiter: [UInt8]) throws -> [UInt8] {
        var searchFrom = 0
        while true {
            if buffer.count >= delimiter.count {
                for index in searchFrom...(buffer.count - delimiter.count) where buffer[index] == delimiter[0] {
                    if buffer[index..<(index + delimiter.count)].elementsEqual(delimiter) {
                        let result = Array(buffer[..<index])
                        buffer.removeFirst(index + delimiter.count)
                        return result
                    }
                }
                searchFrom = buffer.count - delimiter.count + 1
            }
            guard let chunk = try receive() else { throw Failure.closed }
            buffer += chunk
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard let chunk = try receive() else { throw Failure.closed }
            buffer += chunk
        }
        let result = Array(buffer[..<count])
        buffer.removeFirst(count)
        return result
    }
}
