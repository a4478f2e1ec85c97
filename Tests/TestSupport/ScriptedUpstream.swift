import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// An upstream on raw sockets that answers every connection with bytes a test wrote by hand: for
/// responses no HTTP library would produce (close-delimited, malformed, split oddly) and to see
/// exactly the bytes the proxy forwarded. For each connection it reads until `requestEnd` has
/// arrived (or the peer closes), records what it read, writes `response`, then closes if
/// `closeAfter`, else waits for the next request on the same connection.
public final class ScriptedUpstream: @unchecked Sendable {
    public let port: Int
    private let listener: Int32
    private let requestEnd: [UInt8]
    private let response: [UInt8]
    private let closeAfter: Bool
    private let lock = NIOLock()
    private var _requests: [String] = []
    private var stopped = false

    /// Every request as received (the head and whatever body came with it), in order.
    public var requests: [String] { lock.withLock { _requests } }

    public init(requestEnd: String = "\r\n\r\n", response: String, closeAfter: Bool = false) throws {
        self.requestEnd = Array(requestEnd.utf8)
        self.response = Array(response.utf8)
        self.closeAfter = closeAfter
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Stops accepting. Once only: a second close could close a descriptor number that another
    /// test's socket has been given since.
    public func shutdown() {
        let first = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { shutdown() }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            if lock.withLock({ stopped }) {
                close(client)
                return
            }
            Thread.detachNewThread { [self] in serve(client) }
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            while Self.find(requestEnd, in: received) == nil {
                let count = recv(client, &chunk, chunk.count, 0)
                if count <= 0 { return }
                received += chunk[0..<count]
            }
            let end = Self.find(requestEnd, in: received)! + requestEnd.count
            lock.withLock { _requests.append(String(decoding: received[0..<end], as: UTF8.self)) }
            received.removeFirst(end)
            var sent = 0
            while sent < response.count {
                let count = response[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if count <= 0 { return }
                sent += count
            }
            if closeAfter { return }
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<start + needle.count].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
