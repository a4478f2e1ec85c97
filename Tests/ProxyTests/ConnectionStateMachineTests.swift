import NIOCore
import Testing

@testable import tollgate_proxy

/// The client connection's state machine without a socket: every event a connection meets, in the
/// orders that have broken proxies before (pipelined answers from both sides, bodies held and
/// streamed, early answers, upgrades, parser errors behind other requests, timeouts, shutdown).
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine<String>

    static func machine(maxBody: Int = 1_000, held: Int = 100, pipelined: Int = 600) -> Machine {
        Machine(limits: .init(maxBodyBytes: maxBody, heldBodyBytes: held, pipelinedBytes: pipelined))
    }

    static func bytes(_ count: Int) -> ByteBuffer { ByteBuffer(repeating: 0x61, count: count) }

    /// The head a `.startRequest` action names, or nil.
    static func started(_ action: Machine.ReadAction) -> String? {
        if case let .startRequest(head) = action { return head }
        return nil
    }

    static func status(_ action: Machine.AnswerAction) -> (status: UInt, close: Bool, abandon: Bool)? {
        if case let .write(problem, close, abandon) = action { return (problem.status.code, close, abandon) }
        return nil
    }

    /// Head and end of a bodiless request, through the phases and forwarded; returns the machine
    /// forwarding with the request ended.
    static func forwarded(_ machine: inout Machine, _ head: String = "GET /a") {
        do {
            let value = machine.read(.head(head, keepAlive: true))
            #expect(started(value) == head)
        }
        machine.requestValidated(hasBody: false)
        if case .none = machine.read(.end) {} else { Issue.record("an end while preparing asks for nothing") }
        guard case .forward = machine.phasesFinished(problem: nil) else {
            Issue.record("phases passed: forward")
            return
        }
        let ready = Self.ready(&machine)
        #expect(ready?.held.isEmpty == true && ready?.end == true)
        #expect(machine.state == .forwarding)
    }

    /// The upstream connection is ready: the sizes of the held parts written to it, and whether the
    /// request has ended; nil when the machine no longer wants it.
    static func ready(_ machine: inout Machine) -> (held: [Int], end: Bool)? {
        var held: [Int] = []
        guard let end = machine.upstreamReady(writingHeldBody: { held.append($0.readableBytes) }) else { return nil }
        return (held, end)
    }

    /// The upstream's head and end for a forwarded, ended request on a kept-alive connection, then
    /// the end written: true when the request completed (each step is checked).
    static func upstreamAnswers(_ machine: inout Machine) -> Bool {
        let head = machine.upstreamHead(isSwitch: false, isUpgradeRequest: false)
        #expect(head == .writeHead(close: false))
        let end = machine.upstreamEnd()
        #expect(end == .releaseAndEnd(reusable: true, close: false))
        guard case .requestComplete = machine.responseEndWritten() else {
            Issue.record("the request completes once its response's end is written")
            return false
        }
        return true
    }

    @Test("a request forwarded and answered by the upstream leaves the connection idle and reusable")
    func oneRequest() {
        var machine = Self.machine()
        Self.forwarded(&machine)
        do {
            let value = machine.upstreamHead(isSwitch: false, isUpgradeRequest: false)
            #expect(value == .writeHead(close: false))
        }
        do {
            let value = machine.upstreamEnd()
            #expect(value == .releaseAndEnd(reusable: true, close: false))
        }
        guard case .requestComplete = machine.responseEndWritten() else {
            Issue.record("complete after the end is written")
            return
        }
        #expect(machine.state == .idle)
        do {
            let value = machine.readingChange()
            #expect(value == nil, "reading never paused")
        }
    }

    @Test("pipelined requests wait until the response before them is written to its last byte, whichever side answers")
    func pipelinedOrder() {
        var machine = Self.machine()
        Self.forwarded(&machine, "GET /first")
        // Two more requests arrive while the first is answered.
        for part: Machine.RequestPart in [.head("GET /no-route", keepAlive: true), .end, .head("GET /third", keepAlive: true), .end] {
            if case .none = machine.read(part) {} else { Issue.record("a queued part asks for nothing") }
        }
        do {
            let value = machine.drain()
            #expect(value == nil, "nothing of the next request while the first is being answered")
        }
        do {
            let value = machine.upstreamHead(isSwitch: false, isUpgradeRequest: false)
            #expect(value == .writeHead(close: false))
        }
        do {
            let value = machine.drain()
            #expect(value == nil, "nor while its body streams")
        }
        do {
            let value = machine.upstreamEnd()
            #expect(value == .releaseAndEnd(reusable: true, close: false))
        }
        do {
            let value = machine.drain()
            #expect(value == nil, "nor before its end is written (a chunked response's last-chunk)")
        }
        guard case .requestComplete = machine.responseEndWritten() else {
            Issue.record("complete")
            return
        }

        // The second is refused by the sidecar itself, the moment it starts.
        do {
            let value = machine.drain()
            #expect(Self.started(value!) == "GET /no-route")
        }
        machine.requestValidated(hasBody: false)
        guard case let .answer(answer) = machine.phasesFinished(problem: .routeNotFound()) else {
            Issue.record("answer")
            return
        }
        #expect(Self.status(answer)! == (404, false, false))
        // Its end has not been handed over yet: the answer is written, the request completes on its end.
        if case .none = machine.responseEndWritten() {} else { Issue.record("the request's end is still queued") }
        guard case .requestComplete = machine.drain() else {
            Issue.record("its end completes it")
            return
        }
        do {
            let value = machine.drain()
            #expect(Self.started(value!) == "GET /third")
        }
    }

    @Test("a body is held while the phases decide, then written after the head; later parts stream")
    func heldThenStreamedBody() {
        var machine = Self.machine()
        do {
            let value = machine.read(.head("POST /upload", keepAlive: true))
            #expect(Self.started(value) != nil)
        }
        machine.requestValidated(hasBody: true)
        if case .none = machine.read(.body(Self.bytes(10))) {} else { Issue.record("held") }
        if case .none = machine.read(.body(Self.bytes(20))) {} else { Issue.record("held") }
        guard case .forward = machine.phasesFinished(problem: nil) else {
            Issue.record("forward")
            return
        }
        let ready = Self.ready(&machine)
        #expect(ready?.held == [10, 20])
        #expect(ready?.end == false)
        guard case let .forwardBody(part) = machine.read(.body(Self.bytes(5))) else {
            Issue.record("streamed")
            return
        }
        #expect(part.readableBytes == 5)
        guard case .forwardEnd = machine.read(.end) else {
            Issue.record("the end is forwarded")
            return
        }
        do {
            let value = machine.upstreamHead(isSwitch: false, isUpgradeRequest: false)
            #expect(value == .writeHead(close: false))
        }
    }

    @Test("reading pauses when the held body passes its limit, and follows the upstream's writability once forwarding")
    func heldBodyBackPressure() {
        var machine = Self.machine(held: 100)
        _ = machine.read(.head("POST /upload", keepAlive: true))
        machine.requestValidated(hasBody: true)
        _ = machine.read(.body(Self.bytes(60)))
        do {
            let value = machine.readingChange()
            #expect(value == nil)
        }
        _ = machine.read(.body(Self.bytes(60)))
        do {
            let value = machine.readingChange()
            #expect(value == false, "paused past 100 held bytes")
        }
        do {
            let value = machine.readingChange()
            #expect(value == nil, "a change is applied once")
        }
        _ = machine.phasesFinished(problem: nil)
        _ = Self.ready(&machine)
        machine.upstreamWritabilityChanged(writable: true)
        do {
            let value = machine.readingChange()
            #expect(value == true, "resumed once the upstream can take the body")
        }
        machine.upstreamWritabilityChanged(writable: false)
        do {
            let value = machine.readingChange()
            #expect(value == false)
        }
        machine.upstreamWritabilityChanged(writable: true)
        _ = machine.read(.end)
        machine.upstreamWritabilityChanged(writable: false)
        do {
            let value = machine.readingChange()
            #expect(value == true, "once the request has ended the upstream's writability no longer pauses the client")
        }
    }

    @Test("a body over the limit is answered 413 and closes, abandoning the upstream connection when forwarding")
    func bodyTooLarge() {
        var preparing = Self.machine(maxBody: 100)
        _ = preparing.read(.head("POST /upload", keepAlive: true))
        preparing.requestValidated(hasBody: true)
        guard case let .answer(early) = preparing.read(.body(Self.bytes(101))) else {
            Issue.record("413")
            return
        }
        #expect(Self.status(early)! == (413, true, false))
        #expect(preparing.state == .closed)

        var forwarding = Self.machine(maxBody: 100)
        _ = forwarding.read(.head("POST /upload", keepAlive: true))
        forwarding.requestValidated(hasBody: true)
        _ = forwarding.phasesFinished(problem: nil)
        _ = Self.ready(&forwarding)
        _ = forwarding.read(.body(Self.bytes(60)))
        guard case let .answer(late) = forwarding.read(.body(Self.bytes(60))) else {
            Issue.record("413")
            return
        }
        #expect(Self.status(late)! == (413, true, true))
    }

    @Test("an upstream that answers before the body is read: Connection: close, and the connection is not reused")
    func earlyUpstreamAnswer() {
        var machine = Self.machine()
        _ = machine.read(.head("POST /upload", keepAlive: true))
        machine.requestValidated(hasBody: true)
        _ = machine.phasesFinished(problem: nil)
        _ = Self.ready(&machine)
        do {
            let value = machine.upstreamHead(isSwitch: false, isUpgradeRequest: false)
            #expect(value == .writeHead(close: true))
        }
        do {
            let value = machine.upstreamEnd()
            #expect(value == .releaseAndEnd(reusable: false, close: true))
        }
        #expect(machine.state == .closed)
    }

    @Test("a refusal of a request whose body is unread closes the connection; of one without a body it does not")
    func refusalsAndUnreadBodies() {
        var withBody = Self.machine()
        _ = withBody.read(.head("POST /upload", keepAlive: true))
        withBody.requestValidated(hasBody: true)
        guard case let .answer(refused) = withBody.phasesFinished(problem: .routeNotFound()) else {
            Issue.record("answer")
            return
        }
        #expect(Self.status(refused)! == (404, true, false))

        var withoutBody = Self.machine()
        _ = withoutBody.read(.head("GET /x", keepAlive: true))
        withoutBody.requestValidated(hasBody: false)
        _ = withoutBody.read(.end)
        guard case let .answer(answered) = withoutBody.phasesFinished(problem: .routeNotFound()) else {
            Issue.record("answer")
            return
        }
        #expect(Self.status(answered)! == (404, false, false))
        guard case .requestComplete = withoutBody.responseEndWritten() else {
            Issue.record("complete")
            return
        }
    }

    @Test("Connection: close ends the connection after the response, and nothing queued behind it is served")
    func closeAfterResponse() {
        var machine = Self.machine()
        do {
            let value = machine.read(.head("GET /a", keepAlive: false))
            #expect(Self.started(value) != nil)
        }
        machine.requestValidated(hasBody: false)
        _ = machine.read(.end)
        _ = machine.phasesFinished(problem: nil)
        _ = Self.ready(&machine)
        _ = machine.read(.head("GET /smuggled", keepAlive: true))
        do {
            let value = machine.upstreamHead(isSwitch: false, isUpgradeRequest: false)
            #expect(value == .writeHead(close: true))
        }
        do {
            let value = machine.upstreamEnd()
            #expect(value == .releaseAndEnd(reusable: true, close: true))
        }
        do {
            let value = machine.drain()
            #expect(value == nil, "the queued request is never started")
        }
        if case .none = machine.read(.head("GET /later", keepAlive: true)) {} else { Issue.record("closed: nothing starts") }
    }

    @Test("an upgrade switched by the upstream becomes a tunnel; a refused one closes after its response")
    func upgrades() {
        var switched = Self.machine()
        Self.forwarded(&switched, "GET /ws")
        do {
            let value = switched.upstreamHead(isSwitch: true, isUpgradeRequest: true)
            #expect(value == .writeHeadAndTunnel)
        }
        #expect(switched.state == .tunnel)
        do {
            let value = switched.upstreamEnd()
            #expect(value == .ignore)
        }
        do {
            let value = switched.clientClosed()
            #expect(value == false, "the tunnel owns the upstream connection")
        }

        var refused = Self.machine()
        Self.forwarded(&refused, "GET /ws")
        do {
            let value = refused.upstreamHead(isSwitch: false, isUpgradeRequest: true)
            #expect(value == .writeHead(close: true))
        }
    }

    @Test("a malformed request with nothing before it is answered at once and closes")
    func parserErrorWhenIdle() {
        var machine = Self.machine()
        guard case let .answerAndClose(problem) = machine.parserError(.badRequest("bad")) else {
            Issue.record("answer")
            return
        }
        #expect(problem.status.code == 400)
        #expect(machine.state == .closed)
        do {
            let value = machine.readingChange()
            #expect(value == false)
        }
    }

    @Test("a malformed request queued behind others is answered after their answers, then the connection closes")
    func parserErrorBehindOthers() {
        var machine = Self.machine()
        Self.forwarded(&machine)
        _ = machine.read(.head("GET /second", keepAlive: true))
        _ = machine.read(.end)
        if case .none = machine.parserError(.badRequest("bad")) {} else { Issue.record("it waits") }
        do {
            let value = machine.readingChange()
            #expect(value == false, "nothing more is read")
        }
        do {
            let value = machine.pendingAnswer()
            #expect(value == nil, "not while the first is answered")
        }
        guard Self.upstreamAnswers(&machine) else { return }
        do {
            let value = machine.readingChange()
            #expect(value == nil, "reading stays paused: the error is pending")
        }
        do {
            let value = machine.drain()
            #expect(Self.started(value!) == "GET /second")
        }
        machine.requestValidated(hasBody: false)
        do {
            let value = machine.pendingAnswer()
            #expect(value == nil, "not while the second is answered")
        }
        guard case .some(.none) = machine.drain() else {
            Issue.record("its end is read while the phases run")
            return
        }
        do {
            let value = machine.drain()
            #expect(value == nil, "nothing else is queued")
        }
        do {
            let value = machine.pendingAnswer()
            #expect(value == nil, "still not while the second is answered")
        }
        _ = machine.phasesFinished(problem: nil)
        _ = Self.ready(&machine)
        guard Self.upstreamAnswers(&machine) else { return }
        do {
            let value = machine.drain()
            #expect(value == nil)
        }
        do {
            let value = machine.pendingAnswer()
            #expect(value?.status.code == 400)
        }
        #expect(machine.state == .closed)
    }

    @Test("a malformed body of the request being forwarded is answered 400 before any response, abandoning the upstream")
    func parserErrorInCurrentBody() {
        var machine = Self.machine()
        _ = machine.read(.head("POST /upload", keepAlive: true))
        machine.requestValidated(hasBody: true)
        _ = machine.phasesFinished(problem: nil)
        _ = Self.ready(&machine)
        guard case let .answer(answer) = machine.parserError(.badRequest("bad chunk")) else {
            Issue.record("answer")
            return
        }
        #expect(Self.status(answer)! == (400, true, true))
    }

    @Test("the upstream failing before its head is a 502; after it, the client connection is closed")
    func upstreamFailures() {
        var before = Self.machine()
        Self.forwarded(&before)
        guard case let .answer(answer) = before.upstreamFailed() else {
            Issue.record("502")
            return
        }
        #expect(Self.status(answer)! == (502, false, true))
        guard case .requestComplete = before.responseEndWritten() else {
            Issue.record("the connection goes on")
            return
        }

        var after = Self.machine()
        Self.forwarded(&after)
        _ = after.upstreamHead(isSwitch: false, isUpgradeRequest: false)
        guard case .closeConnection = after.upstreamFailed() else {
            Issue.record("close")
            return
        }
        #expect(after.state == .closed)
    }

    @Test("the upstream timeout is a 504 before the response starts, and nothing after")
    func upstreamTimeout() {
        var waiting = Self.machine()
        Self.forwarded(&waiting)
        do {
            let value = waiting.upstreamTimedOut()
            #expect(Self.status(value)! == (504, false, true))
        }

        var responding = Self.machine()
        Self.forwarded(&responding)
        _ = responding.upstreamHead(isSwitch: false, isUpgradeRequest: false)
        if case .none = responding.upstreamTimedOut() {} else { Issue.record("a started response is not timed out") }
    }

    @Test("a connect failure is a 502, and a connection ready too late is not used")
    func connectOutcomes() {
        var machine = Self.machine()
        _ = machine.read(.head("GET /a", keepAlive: true))
        machine.requestValidated(hasBody: false)
        _ = machine.read(.end)
        _ = machine.phasesFinished(problem: nil)
        do {
            let value = machine.upstreamConnectFailed(.badGateway("refused"))
            #expect(Self.status(value)! == (502, false, false))
        }
        do {
            let value = Self.ready(&machine)
            #expect(value == nil, "the request was answered: release the late connection")
        }
    }

    @Test("the idle timeout closes a silent or stalled client, not one waiting on the upstream")
    func idleTimeout() {
        let idle = Self.machine()
        do {
            let value = idle.idleTimeout()
            #expect(value)
        }
        var waiting = Self.machine()
        Self.forwarded(&waiting)
        do {
            let value = waiting.idleTimeout()
            #expect(!value, "waiting on the upstream is not the client's silence")
        }
        var uploading = Self.machine()
        _ = uploading.read(.head("POST /upload", keepAlive: true))
        uploading.requestValidated(hasBody: true)
        _ = uploading.phasesFinished(problem: nil)
        _ = Self.ready(&uploading)
        do {
            let value = uploading.idleTimeout()
            #expect(value, "stalled mid-upload")
        }
    }

    @Test("graceful shutdown closes an idle connection now and a busy one after its response; new heads are not kept alive")
    func quiesce() {
        var idle = Self.machine()
        do {
            let value = idle.quiesce()
            #expect(value)
        }
        var busy = Self.machine()
        Self.forwarded(&busy)
        do {
            let value = busy.quiesce()
            #expect(!value)
        }
        do {
            let value = busy.upstreamHead(isSwitch: false, isUpgradeRequest: false)
            #expect(value == .writeHead(close: true))
        }
        do {
            let value = busy.upstreamEnd()
            #expect(value == .releaseAndEnd(reusable: true, close: true))
        }
    }

    @Test("queued bytes past the limit pause reading, and reading resumes once the queue is served")
    func pipelinedBackPressure() {
        var machine = Self.machine(pipelined: 600)
        Self.forwarded(&machine)
        _ = machine.read(.head("POST /b", keepAlive: true))
        _ = machine.read(.body(Self.bytes(200)))
        do {
            let value = machine.readingChange()
            #expect(value == nil)
        }
        _ = machine.read(.body(Self.bytes(200)))
        do {
            let value = machine.readingChange()
            #expect(value == false, "256 + 400 queued bytes")
        }
        guard Self.upstreamAnswers(&machine) else { return }
        do {
            let value = machine.readingChange()
            #expect(value == true)
        }
    }

    @Test("late events for an exchange that is over are ignored")
    func lateEvents() {
        var machine = Self.machine()
        if case .ignore = machine.phasesFinished(problem: nil) {} else { Issue.record("no request") }
        do {
            let value = machine.upstreamHead(isSwitch: false, isUpgradeRequest: false)
            #expect(value == .ignore)
        }
        do {
            let value = machine.upstreamEnd()
            #expect(value == .ignore)
        }
        if case .ignore = machine.upstreamFailed() {} else { Issue.record("no request") }
        if case .none = machine.answer(.routeNotFound()) {} else { Issue.record("no request to answer") }
        do {
            let value = Self.ready(&machine)
            #expect(value == nil)
        }
    }

    @Test("the client closing mid-forward abandons the upstream connection; between requests it does not")
    func clientCloses() {
        var forwarding = Self.machine()
        Self.forwarded(&forwarding)
        do {
            let value = forwarding.clientClosed()
            #expect(value)
        }
        var idle = Self.machine()
        do {
            let value = idle.clientClosed()
            #expect(!value)
        }
    }

    @Test("a response that reaches the client delimited by the close ends the connection; the upstream connection is still released")
    func endsWithClose() {
        var machine = Self.machine()
        Self.forwarded(&machine)
        let head = machine.upstreamHead(isSwitch: false, isUpgradeRequest: false, endsWithClose: true)
        #expect(head == .writeHead(close: true), "the client learns the connection closes with this response")
        #expect(machine.upstreamEnd() == .releaseAndEnd(reusable: true, close: true))
        #expect(machine.state == .closed)
        // A request queued behind it is not served.
        #expect(Self.started(machine.read(.head("GET /next", keepAlive: true))) == nil)
    }

    @Test("a chunked body counts its data against the limit, not its framing")
    func chunkedDataCounts() {
        var machine = Self.machine(maxBody: 100, held: 1_000)
        _ = machine.read(.head("POST /a", keepAlive: true))
        machine.requestValidated(hasBody: true)
        // 90 bytes of data in 150 bytes of framing and data: under the limit.
        if case .none = machine.read(.body(Self.bytes(150), dataBytes: 90)) {} else { Issue.record("held, not refused") }
        // 11 more bytes of data: 101, over it.
        guard case let .answer(action) = machine.read(.body(Self.bytes(20), dataBytes: 11)), let refused = Self.status(action) else {
            Issue.record("the 101st data byte is refused")
            return
        }
        #expect(refused.status == 413 && refused.close)
    }
}
