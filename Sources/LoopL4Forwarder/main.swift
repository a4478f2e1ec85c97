// tollgate-loop-l4: the TollgateLoop event loop as a bare L4 TCP forwarder — the loop's ceiling in
// bench/run-proxy-bench.sh, beside nginx `stream` and the SwiftNIO l4-forwarder (issue 16, step 5).
// Bench and test tool only: it is not the sidecar, and does no HTTP.
//
//   tollgate-loop-l4 --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT [--threads N]
//       [--forward LISTEN=UPSTREAM ...] [--slab-size 16384] [--connect-timeout-ms 5000] [--idle-timeout-ms 600000]
//
// One loop per thread, each with its own SO_REUSEPORT listener per forward. Port 0 picks a free
// port (the same one for every loop). Standard error gets one `listening on LISTEN -> UPSTREAM`
// line per forward once every loop runs; SIGTERM or SIGINT stops the loops, and standard output
// gets one `stats ...` line (the counters summed over the loops, taken at the stop, before the
// loops close what is still open, and the pools after).

import Synchronization
import TollgateLoop

#if canImport(Glibc)
    import Glibc
#endif

func fail(_ message: String) -> Never {
    var line = "tollgate-loop-l4: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(2)
}

func endpoint(_ text: String) -> IPv4Endpoint {
    guard let endpoint = IPv4Endpoint(text) else { fail("expected IPV4:PORT, got \(text)") }
    return endpoint
}

var forwards: [(listen: IPv4Endpoint, upstream: IPv4Endpoint)] = []
var listen: IPv4Endpoint?
var upstream: IPv4Endpoint?
var threads = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
var loopConfiguration = Reactor.Configuration()
var connectTimeout: UInt64 = 5_000
var idleTimeout: UInt64 = 600_000
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    guard let value = arguments.next() else { fail("\(argument) needs a value") }
    switch argument {
    case "--listen": listen = endpoint(value)
    case "--upstream": upstream = endpoint(value)
    case "--forward":
        let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { fail("--forward takes LISTEN=UPSTREAM, got \(value)") }
        forwards.append((endpoint(parts[0]), endpoint(parts[1])))
    case "--threads": threads = Int(value) ?? 0
    case "--slab-size": loopConfiguration.slabSize = Int(value) ?? 0
    case "--connect-timeout-ms": connectTimeout = UInt64(value) ?? 0
    case "--idle-timeout-ms": idleTimeout = UInt64(value) ?? 0
    default: fail("unknown argument \(argument)")
    }
}
switch (listen, upstream) {
case let (listen?, upstream?): forwards.insert((listen, upstream), at: 0)
case (nil, nil): break
default: fail("--listen and --upstream go together")
}
guard !forwards.isEmpty else { fail("nothing to forward: give --listen and --upstream, or --forward LISTEN=UPSTREAM") }
guard threads > 0 else { fail("--threads must be a positive number") }
guard loopConfiguration.slabSize >= 1024 else { fail("--slab-size must be at least 1024") }
guard connectTimeout > 0 else { fail("--connect-timeout-ms must be a positive number") }

// The loops' threads inherit this mask: the signals wait for the main thread's sigwait.
var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGTERM)
sigaddset(&signals, SIGINT)
pthread_sigmask(SIG_BLOCK, &signals, nil)
signal(SIGPIPE, SIG_IGN)

// Every listener is made here, before any loop starts: a port in use is one clear line and exit 2.
var listeners: [[Int32]] = Array(repeating: [], count: threads)
var resolved: [IPv4Endpoint] = []
for forward in forwards {
    var port = forward.listen.port
    for thread in 0..<threads {
        do {
            let fd = try Socket.listen(on: forward.listen.with(port: port), backlog: 4096, reusePort: true)
            if port == 0 { port = Socket.localPort(fd) ?? 0 }
            listeners[thread].append(fd)
        } catch {
            fail("\(error)")
        }
    }
    resolved.append(forward.listen.with(port: port))
}

struct LoopReport: Sendable {
    var stats = L4Forwarder.Stats()
    var outstandingAtStop = 0
    var handlersAtStop = 0
    var outstandingAfter = 0
    var highWater = 0
    var allocations = 0
}

let reports = Mutex<[LoopReport]>([])
let started = Mutex(0)
let configuration = loopConfiguration
let forwardList = forwards
let connectTimeoutSetting = connectTimeout
let idleTimeoutSetting = idleTimeout
let loops = (0..<threads).map { index in
    let mine = listeners[index]
    return EventLoopThread(name: "loop-l4-\(index)") { signal in
        let reactor: Reactor
        do { reactor = try Reactor(signal: signal, configuration: configuration) } catch { fail("\(error)") }
        let forwarders = zip(mine, forwardList).map { listener, forward in
            var settings = L4Forwarder.Configuration(upstream: forward.upstream)
            settings.connectTimeoutMilliseconds = connectTimeoutSetting
            settings.idleTimeoutMilliseconds = idleTimeoutSetting
            return L4Forwarder(listener: listener, configuration: settings, reactor: reactor)
        }
        var report = LoopReport()
        reactor.onSignal = { request, reactor in
            guard request.contains(.stop) else { return }
            for forwarder in forwarders {
                let stats = forwarder.stats
                report.stats.accepted += stats.accepted
                report.stats.open += stats.open
                report.stats.upstreamConnectFailures += stats.upstreamConnectFailures
                report.stats.connectTimeouts += stats.connectTimeouts
                report.stats.idleTimeouts += stats.idleTimeouts
                report.stats.errors += stats.errors
                report.stats.completed += stats.completed
                report.stats.acceptFailures += stats.acceptFailures
            }
            report.outstandingAtStop = reactor.pool.outstanding
            report.handlersAtStop = reactor.handlerCount - forwarders.count
        }
        started.withLock { $0 += 1 }
        reactor.run()
        report.outstandingAfter = reactor.pool.outstanding
        report.highWater = reactor.pool.highWater
        report.allocations = reactor.pool.allocations
        let final = report
        reports.withLock { $0.append(final) }
    }
}
while started.withLock({ $0 }) < threads { usleep(1_000) }
for (forward, listenAt) in zip(forwards, resolved) {
    var line = "tollgate-loop-l4: listening on \(listenAt) -> \(forward.upstream), \(threads) threads, slab \(configuration.slabSize)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

var received: Int32 = 0
sigwait(&signals, &received)
for loop in loops { loop.stop() }
for loop in loops { loop.join() }
let all = reports.withLock { $0 }
func sum(_ value: (LoopReport) -> Int) -> Int { all.reduce(0) { $0 + value($1) } }
print(
    "stats accepted=\(sum { $0.stats.accepted }) open=\(sum { $0.stats.open }) handlers=\(sum { $0.handlersAtStop })"
        + " completed=\(sum { $0.stats.completed }) errors=\(sum { $0.stats.errors })"
        + " connect_failures=\(sum { $0.stats.upstreamConnectFailures }) connect_timeouts=\(sum { $0.stats.connectTimeouts })"
        + " idle_timeouts=\(sum { $0.stats.idleTimeouts }) accept_failures=\(sum { $0.stats.acceptFailures })"
        + " slabs_outstanding=\(sum { $0.outstandingAtStop }) slabs_outstanding_after_close=\(sum { $0.outstandingAfter })"
        + " slabs_high_water=\(sum { $0.highWater }) slab_allocations=\(sum { $0.allocations })")
exit(0)
