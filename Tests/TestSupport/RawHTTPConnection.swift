import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain blocking TCP client on loopback, for writing exactly the bytes a test needs (smuggling
/// shapes, pipelining, partial requests) and reading exactly what comes back.
public final class RawHTTPConnection {
    public struct Response: Sendable {
        public let status: Int
        public let headers: [(String, String)]
        public let body: [UInt8]

        public init(status: Int, headers: [(String, String)], body: [UInt8]) {
            self.status = status
            self.headers = headers
            self.body = body
        }

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        public func headers(named name: String) -> [String] {
            headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
        }

        public var text: String { String(decoding: body, as: UTF8.self) }

        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        }
    }

    public enum Failure: Error {
        case connect(Int32)
        case closed
        case timeout
        case malformed(String)
    }

    private let fd: Int32
    private var buffer: [UInt8] = []

    public init(port: Int, timeout: TimeInterval = 10) throws {
        // Connected (or closed and thrown) before `fd` is stored: a class whose init throws once
        // every property is set runs its deinit, and a second close() of a number another thread
        // has reused meanwhile closes that thread's descriptor (seen in CI as glibc aborting on a
        // netlink socket of getaddrinfo).
        fd = try Self.connected(port: port)
        setTimeout(timeout)
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
            close(fd)
            throw Failure.connect(code)
        }
        return fd
    }

    deinit {
        close(fd)
    }

    public func setTimeout(_ seconds: TimeInterval) {
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    public func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    public func send(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Failure.closed
                }
                offset += n
            }
        }
    }

    /// Reads one HTTP/1.1 response (Content-Length, chunked, or until close).
    /// `expectBody: false` for responses to HEAD.
    public func readResponse(expectBody: Bool = true) throws -> Response {
        var status = 0
        var headers: [(String, String)] = []
        repeat {
            let headBytes = try readUntil([13, 10, 13, 10])
            let lines = String(decoding: headBytes, as: UTF8.self).components(separatedBy: "\r\n").filter { !$0.isEmpty }
            guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1."), statusLine.count >= 12,
                  let code = Int(statusLine.dropFirst(9).prefix(3))
            else { throw Failure.malformed(lines.first ?? "") }
            status = code
            headers = lines.dropFirst().compactMap { line in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
        } while (100...199).contains(status) && status != 101
        let response = { (body: [UInt8]) in Response(status: status, headers: headers, body: body) }
        let lookup = { (name: String) in headers.first { $0.0.lowercased() == name }?.1 }
        if !expectBody || status == 204 || status == 304 || status == 101 { return response([]) }
        if let length = lookup("content-length").flatMap(Int.init) {
            return response(try readExactly(length))
        }
        if lookup("transfer-encoding")?.lowercased() == "chunked" {
            var body: [UInt8] = []
            while true {
                let sizeLine = String(decoding: try readUntil([13, 10]), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else { throw Failure.malformed(sizeLine) }
                if size == 0 {
                    _ = try readUntil([13, 10])
                    return response(body)
                }
                body += try readExactly(size)
                _ = try readExactly(2)
            }
        }
        return response(try readToEnd())
    }

    /// The lines of one response head (status line first), without reading a body: for interim
    /// `100 Continue` heads.
    public func readHeadLines() throws -> [String] {
        String(decoding: try readUntil([13, 10, 13, 10]), as: UTF8.self).components(separatedBy: "\r\n")
    }

    /// Everything until the server closes (or the timeout).
    public func readToEnd() throws -> [UInt8] {
        var output = buffer
        buffer.removeAll()
        while let chunk = try receive() { output += chunk }
        return output
    }

    /// True when the server closed the connection within the timeout, with nothing more to read.
    public func isClosedByPeer() -> Bool {
        guard buffer.isEmpty else { return false }
        do {
            return try receive() == nil
        } catch {
            return false
        }
    }

    /// Reads and discards `count` bytes, hashing them; for large downloads.
    public func readDiscarding(_ count: Int, into hasher: (UnsafeRawBufferPointer) -> Void) throws {
        var remaining = count
        if !buffer.isEmpty {
            let n = min(remaining, buffer.count)
            buffer[0..<n].withUnsafeBytes(hasher)
            buffer.removeFirst(n)
            remaining -= n
        }
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        while remaining > 0 {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, min($0.count, remaining), 0) }
            if n < 0, errno == EINTR { continue }
            if n < 0 { throw Failure.timeout }
            if n == 0 { throw Failure.closed }
            chunk[0..<n].withUnsafeBytes(hasher)
            remaining -= n
        }
    }

    private func receive() throws -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { return Array(chunk[0..<n]) }
            if n == 0 { return nil }
            if errno == EINTR { continue }
            if errno == ECONNRESET { return nil }
            throw Failure.timeout
        }
    }

    private func readUntil(_ delimiter: [UInt8]) throws -> [UInt8] {
        while true {
            if let range = find(delimiter) {
                let result = Array(buffer[..<range])
                buffer.removeFirst(range + delimiter.count)
                return result
            }
            guard let chunk = try receive() else { throw Failure.closed }
            buffer += chunk
        }
    }

    /// Exactly `count` bytes (for tunnelled protocols).
    public func readBytes(_ count: Int) throws -> [UInt8] {
        try readExactly(count)
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

    private func find(_ delimiter: [UInt8]) -> Int? {
        guard buffer.count >= delimiter.count else { return nil }
        for index in 0...(buffer.count - delimiter.count) where buffer[index] == delimiter[0] {
            if Array(buffer[index..<(index + delimiter.count)]) == delimiter { return index }
        }
        return nil
    }
}

/// A loopback port nothing listens on right now.
public func freeLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
