import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An upstream that accepts and never reads or answers: the proxy's request waits on it and its
/// writes back up. It keeps the last 64 connections and closes older ones, so some proxied
/// exchanges also see their upstream go away. (After LoopTests' `SlowUpstream`, on plain Glibc.)
final class SlowUpstream: Sendable {
    let port: Int
    private let listener: Int32
    private let running = Atomic<Bool>(true)
    private let finished = DispatchSemaphore(value: 0)

    enum Failure: Error { case socket(Int32) }

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw Failure.socket(errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 1024) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard ok else {
            let code = errno
            close(listener)
            throw Failure.socket(code)
        }
        self.listener = listener
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptAndHold() }
        thread.start()
    }

    private func acceptAndHold() {
        var held: [Int32] = []
        while running.load(ordering: .relaxed) {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 20) == 1 else { continue }
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            held.append(fd)
            if held.count > 64 { close(held.removeFirst()) }
        }
        for fd in held { close(fd) }
        finished.signal()
    }

    /// Stops accepting and closes what it holds; call once.
    func stop() {
        running.store(false, ordering: .relaxed)
        finished.wait()
        close(listener)
    }
}
