// A minimal SwiftNIO L4 TCP forwarder: the ceiling of a NIO data path that does no HTTP work at all.
// bench/run-proxy-bench.sh runs it beside nginx `stream` and tollgate-proxy (issue 15, "The ceiling").
//
//   l4-forwarder --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT [--threads N] [--recv adaptive:MIN,INITIAL,MAX | fixed:SIZE]
//
// Per accepted connection, one upstream connection made on the accepting event loop (as nginx
// `stream` does: no pool, so a client's bytes never leave their loop); one GlueHandler on each
// channel passes the bytes both ways with back-pressure. The receive allocator defaults to adaptive
// sizes that never shrink below 1 KiB: NIO's default (64 / 2,048 / 65,536) shrinks to 64 bytes on
// a run of small reads, and then an HTTP head of a few hundred bytes takes several reads.
// Bench-only: this package (Benchmarks/) is not built by the root package or CI.

import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

func printError(_ message: String) {
    var line = "l4-forwarder: \(message)\n"
    line.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

func fail(_ message: String) -> Never {
    printError(message)
    exit(2)
}

func hostAndPort(_ text: String) -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
        fail("expected HOST:PORT, got \(text)")
    }
    return (String(text[..<colon]), port)
}

var listen = ("127.0.0.1", 0)
var upstream: (String, Int)?
var threads = System.coreCount
var recvSpec = "adaptive:1024,2048,65536"
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    guard let value = arguments.next() else { fail("\(argument) needs a value") }
    switch argument {
    case "--listen": listen = hostAndPort(value)
    case "--upstream": upstream = hostAndPort(value)
    case "--threads": threads = Int(value) ?? 0
    case "--recv": recvSpec = value
    default: fail("unknown argument \(argument)")
    }
}
guard let upstream else { fail("--upstream HOST:PORT is required") }
guard threads > 0 else { fail("--threads must be a positive number") }

let recvAllocator: any RecvByteBufferAllocator
let sizes = recvSpec.split(separator: ":").last.map { $0.split(separator: ",").compactMap { Int($0) } } ?? []
if recvSpec.hasPrefix("fixed:"), sizes.count == 1 {
    recvAllocator = FixedSizeRecvByteBufferAllocator(capacity: sizes[0])
} else if recvSpec.hasPrefix("adaptive:"), sizes.count == 3 {
    recvAllocator = AdaptiveRecvByteBufferAllocator(minimum: sizes[0], initial: sizes[1], maximum: sizes[2])
} else {
    fail("--recv takes adaptive:MIN,INITIAL,MAX or fixed:SIZE, got \(recvSpec)")
}
let upstreamAddress: SocketAddress
do {
    upstreamAddress = try SocketAddress(ipAddress: upstream.0, port: upstream.1)
} catch {
    fail("--upstream must be an IP address and port: \(error)")
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let server = ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    .childChannelOption(.recvAllocator, value: recvAllocator)
    .childChannelInitializer { inbound in
        // The child is registered (and starts reading) only once this future completes: the upstream
        // connection is up and both ends are glued, so no byte arrives before there is a handler.
        ClientBootstrap(group: inbound.eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: recvAllocator)
            .connectTimeout(.seconds(5))
            .connect(to: upstreamAddress)
            .flatMapThrowing { outbound in
                let (clientSide, upstreamSide) = GlueHandler.matchedPair()
                try inbound.pipeline.syncOperations.addHandler(clientSide)
                try outbound.pipeline.syncOperations.addHandler(upstreamSide)
            }
    }

do {
    let channel = try server.bind(host: listen.0, port: listen.1).wait()
    printError("listening on \(channel.localAddress.map { "\($0)" } ?? "?") → \(upstreamAddress), \(threads) threads, recv \(recvSpec)")
    try channel.closeFuture.wait()
} catch {
    fail("\(error)")
}
