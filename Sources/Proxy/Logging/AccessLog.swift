import Core
import Foundation
import NIOCore
import TollgateLoop

/// One line per request on stdout (`--log-format json|text`). Lines collect in a buffer owned by
/// the event loop and are written once per loop iteration (or every 16 KiB): no stdio lock shared
/// between loops, and no syscall per request. Each write(2) holds whole lines and at most PIPE_BUF
/// (4096) bytes, which POSIX makes atomic on a pipe, so lines from two loops never interleave even
/// when stdout is a shared pipe (a single line longer than that is written alone). Tokens, secrets
/// and `Authorization` are never fields of the line.
struct AccessLogEntry {
    var time: Double
    var requestID: RequestID
    var method: String
    var path: String
    var route: String?
    var status: Int
    var durationMilliseconds: Double
    var upstreamMilliseconds: Double?
    var subject: String?
    var clientIP: String
    /// `allowed`, or the refusal's slug (`no-route`, `bad-request`, `upstream-timeout`, …).
    var decision: String
}

final class AccessLog {
    enum Format: String, Sendable {
        case json, text
    }

    static let flushThreshold = 16 * 1024

    private let format: Format
    private let fileDescriptor: Int32
    private let eventLoop: (any EventLoop)?
    private var buffer: ByteBuffer
    fileprivate var flushScheduled = false
    /// The formatted `YYYY-MM-DDTHH:MM:SS` of `cachedSecond`: formatting a date once a second, not per line.
    private var cachedSecond = -1
    private var cachedPrefix = ""
    private var cachedPrefixBytes: [UInt8] = []
    /// A JSON line is built here, then copied into `buffer` in one write.
    private var line: [UInt8] = []

    /// With an event loop, lines are flushed once per loop iteration; without one, at once.
    init(format: Format, fileDescriptor: Int32 = 1, eventLoop: (any EventLoop)? = nil) {
        self.format = format
        self.fileDescriptor = fileDescriptor
        self.eventLoop = eventLoop
        self.buffer = ByteBufferAllocator().buffer(capacity: Self.flushThreshold + 1024)
        if let reactorLoop = eventLoop as? ReactorEventLoop {
            // On the data path's own loop: flushed from the reactor's end-of-turn call, no closure.
            let flusher = EndOfTurnFlush()
            flusher.log = self
            turnEnd = (reactorLoop.reactor, reactorLoop.reactor.add(flusher))
        }
    }

    func write(_ entry: AccessLogEntry) {
        switch format {
        case .json: appendJSON(entry)
        case .text: appendText(entry)
        }
        if buffer.readableBytes >= Self.flushThreshold || eventLoop == nil {
            flush()
        } else if !flushScheduled, let eventLoop {
            flushScheduled = true
            // Runs after the events of this loop iteration: one write for all their lines.
            if let (reactor, id) = turnEnd {
                reactor.runAtEndOfTurn(id)
            } else {
                eventLoop.assumeIsolated().execute(scheduledFlush)
            }
        }
    }

    /// Made once: scheduling a flush per loop iteration allocates no closure.
    /// The reactor and the handler that flush at the end of its turn (the loop data path).
    private var turnEnd: (Reactor, HandlerID)?

    private final class EndOfTurnFlush: LoopHandler {
        weak var log: AccessLog?
        func ready(_ readiness: Readiness, tag: UInt8, reactor: Reactor) {}
        func timerFired(tag: UInt8, reactor: Reactor) {}
        func shutdown(reactor: Reactor) { log?.flush() }
        func turnEnded(tag: UInt8, reactor: Reactor) {
            guard let log else { return }
            log.flushScheduled = false
            log.flush()
        }
    }

    private lazy var scheduledFlush: () -> Void = { [unowned self] in
        flushScheduled = false
        flush()
    }

    func flush() {
        guard buffer.readableBytes > 0 else { return }
        defer { buffer.clear() }
        buffer.withUnsafeReadableBytes { bytes in
            var gone = false
            Self.forEachAtomicPiece(of: bytes) { range in
                guard !gone else { return }
                var offset = range.lowerBound
                while offset < range.upperBound {
                    let written = Foundation.write(fileDescriptor, bytes.baseAddress! + offset, range.upperBound - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        gone = true  // stdout gone: drop the lines rather than fail requests
                        return
                    }
                    offset += written
                }
            }
        }
    }

    static let pipeAtomicWrite = 4096

    /// Splits newline-terminated lines into runs of whole lines of at most `pipeAtomicWrite` bytes;
    /// a longer line is a run of its own.
    static func atomicPieces(of bytes: UnsafeRawBufferPointer) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        forEachAtomicPiece(of: bytes) { pieces.append($0) }
        return pieces
    }

    /// The same pieces, in order, without an array.
    static func forEachAtomicPiece(of bytes: UnsafeRawBufferPointer, _ body: (Range<Int>) -> Void) {
        var start = 0
        var lastLineEnd = 0
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                let end = index + 1
                if end - start > pipeAtomicWrite, lastLineEnd > start {
                    body(start..<lastLineEnd)
                    start = lastLineEnd
                }
                if end - start > pipeAtomicWrite || end == bytes.count {
                    body(start..<end)
                    start = end
                }
                lastLineEnd = end
            }
            index += 1
        }
        if start < bytes.count { body(start..<bytes.count) }
    }

    private func appendJSON(_ entry: AccessLogEntry) {
        line.removeAll(keepingCapacity: true)
        append(Self.timeKey)
        appendTimestamp(entry.time)
        append(Self.requestIDKey)
        // Ids are `[A-Za-z0-9._:-]` (incoming ones are checked): nothing to escape.
        line.append(UInt8(ascii: "\""))
        entry.requestID.withUTF8 { line.append(contentsOf: $0) }
        line.append(UInt8(ascii: "\""))
        append(Self.methodKey, entry.method)
        append(Self.pathKey, entry.path)
        append(Self.routeKey, entry.route)
        append(Self.statusKey)
        Self.appendDecimal(UInt64(max(0, entry.status)), to: &line)
        append(Self.durationKey)
        Self.appendMilliseconds(entry.durationMilliseconds, to: &line)
        append(Self.upstreamKey)
        if let upstream = entry.upstreamMilliseconds {
            Self.appendMilliseconds(upstream, to: &line)
        } else {
            append(Self.null)
        }
        append(Self.subjectKey, entry.subject)
        append(Self.clientIPKey, entry.clientIP)
        append(Self.decisionKey, entry.decision)
        append(Self.lineEnd)
        buffer.writeBytes(line)
    }

    private static let timeKey: StaticString = "{\"time\":\""
    private static let requestIDKey: StaticString = ",\"request_id\":"
    private static let methodKey: StaticString = ",\"method\":"
    private static let pathKey: StaticString = ",\"path\":"
    private static let routeKey: StaticString = ",\"route\":"
    private static let statusKey: StaticString = ",\"status\":"
    private static let durationKey: StaticString = ",\"duration_ms\":"
    private static let upstreamKey: StaticString = ",\"upstream_ms\":"
    private static let subjectKey: StaticString = ",\"subject\":"
    private static let clientIPKey: StaticString = ",\"client_ip\":"
    private static let decisionKey: StaticString = ",\"decision\":"
    private static let null: StaticString = "null"
    private static let lineEnd: StaticString = "}\n"

    private func append(_ key: StaticString, _ value: String?) {
        append(key)
        if let value {
            JSONOutput.writeString(value, to: &line)
        } else {
            append(Self.null)
        }
    }

    /// The keys are `StaticString`s, not byte arrays: a static array is one object every event loop
    /// retains and releases per use, a cache line the cores pass back and forth on every line.
    private func append(_ text: StaticString) {
        text.withUTF8Buffer { line.append(contentsOf: $0) }
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ"`, the date part formatted once a second.
    private func appendTimestamp(_ seconds: Double) {
        let whole = Int(seconds)
        if whole != cachedSecond { cacheSecond(whole) }
        line.append(contentsOf: cachedPrefixBytes)
        let millis = min(999, max(0, Int((seconds - Double(whole)) * 1000)))
        line.append(UInt8(ascii: "."))
        line.append(UInt8(ascii: "0") + UInt8(millis / 100))
        line.append(UInt8(ascii: "0") + UInt8(millis / 10 % 10))
        line.append(UInt8(ascii: "0") + UInt8(millis % 10))
        line.append(UInt8(ascii: "Z"))
        line.append(UInt8(ascii: "\""))
    }

    private func cacheSecond(_ whole: Int) {
        cachedSecond = whole
        cachedPrefix = String(Self.timestamp(Double(whole)).dropLast(5))
        cachedPrefixBytes = Array(cachedPrefix.utf8)
    }

    static func appendDecimal(_ value: UInt64, to output: inout [UInt8]) {
        if value >= 10 { appendDecimal(value / 10, to: &output) }
        output.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    /// Milliseconds with three decimals (microsecond resolution), as a JSON number: `12.345`.
    static func appendMilliseconds(_ value: Double, to output: inout [UInt8]) {
        let micros = UInt64(max(0, (value * 1000).rounded()))
        appendDecimal(micros / 1000, to: &output)
        let fraction = micros % 1000
        output.append(UInt8(ascii: "."))
        output.append(UInt8(ascii: "0") + UInt8(fraction / 100))
        output.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
        output.append(UInt8(ascii: "0") + UInt8(fraction % 10))
    }

    private func appendText(_ entry: AccessLogEntry) {
        buffer.writeString(timestamp(entry.time))
        buffer.writeString(" \(entry.requestID) \(entry.clientIP) \(Self.printable(entry.method)) \(Self.printable(entry.path))")
        buffer.writeString(" route=\(entry.route ?? "-") status=\(entry.status) duration_ms=\(Self.milliseconds(entry.durationMilliseconds))")
        buffer.writeString(" upstream_ms=\(entry.upstreamMilliseconds.map(Self.milliseconds) ?? "-") subject=\(entry.subject.map(Self.printable) ?? "-")")
        buffer.writeString(" decision=\(entry.decision)\n")
    }

    /// Text lines must stay one line: control characters become `?`.
    private static func printable(_ value: String) -> String {
        String(value.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
    }

    private static func milliseconds(_ value: Double) -> String {
        String(Double(Int((value * 1000).rounded())) / 1000)
    }

    /// `timestamp(_:)` with the date and time part cached for the current second.
    private func timestamp(_ seconds: Double) -> String {
        let whole = Int(seconds)
        if whole != cachedSecond { cacheSecond(whole) }
        let millis = min(999, Int((seconds - Double(whole)) * 1000))
        let digits = String(millis)
        return cachedPrefix + "." + String(repeating: "0", count: 3 - digits.utf8.count) + digits + "Z"
    }

    /// RFC 3339 UTC with milliseconds, without DateFormatter (not thread-safe, and slow).
    static func timestamp(_ seconds: Double) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let millis = Int((seconds - Double(time)) * 1000)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }
}

@available(*, unavailable)
extension AccessLog: Sendable {}
