import NIOCore

/// The life of one client connection, free of I/O: which request a part read belongs to
/// (pipelining), where a body part goes (held while the phases decide, forwarded, discarded), when
/// the client may be read (back-pressure), in which order answers are written, and when the
/// connection closes. Each event returns what to do; the connection handler only does it. It touches
/// no `Channel`, `EventLoop`, future or promise (a `ByteBuffer` is plain data here), so every path
/// is tested without a socket (ConnectionStateMachineTests) and the same code can drive a
/// connection of another event loop.
///
/// `Head` is the request head as the handler parsed it; the machine never looks inside it.
///
/// Invariants it keeps (each a defect once):
/// - A response is finished, last byte written, before anything of the next one: the next queued
///   request is handed out only after `responseEndWritten()`, whichever side answered.
/// - A request whose body is still unread when it is answered ends the connection: the rest of the
///   body could not be told apart from a next request.
/// - Nothing the client sent after an answer that closes the connection is served.
struct ConnectionStateMachine<Head> {
    enum RequestPart {
        case head(Head, keepAlive: Bool)
        /// `dataBytes`: what counts against `maxBodyBytes` (a chunked body's data, not its
        /// framing); nil counts every byte.
        case body(ByteBuffer, dataBytes: Int? = nil)
        case end
    }

    enum State: Equatable {
        /// Between requests.
        case idle
        /// Phases running or the upstream connection being made; body parts are held.
        case preparing
        /// The request is sent (or being sent) upstream.
        case forwarding
        /// Answered by the sidecar (or the upstream's answer is being ended): the rest of the
        /// request body is discarded.
        case answeredLocally
        /// After `101 Switching Protocols`: a byte tunnel, no more HTTP.
        case tunnel
        case closed
    }

    struct Limits {
        var maxBodyBytes: Int
        /// Body bytes held while the phases decide, before reading pauses.
        var heldBodyBytes = 64 * 1024
        /// Bytes of later requests queued behind the one being answered, before reading pauses.
        var pipelinedBytes = 64 * 1024
        /// What a queued head counts for against `pipelinedBytes`.
        var queuedHeadCost: Int { 256 }
    }

    /// What a part read from the client asks for.
    enum ReadAction {
        case none
        /// A new request: validate it, make its exchange and run the phases; answer through
        /// `requestValidated(hasBody:)` and then `phasesFinished`, or through `answer(_:)`.
        case startRequest(Head)
        /// Write this body part to the upstream connection.
        case forwardBody(ByteBuffer)
        /// Write the request's end to the upstream connection.
        case forwardEnd
        /// The body passed `maxBodyBytes`: answer with this (see `AnswerAction`).
        case answer(AnswerAction)
        /// The request is complete and its answer was already written: serve what is queued.
        case requestComplete
    }

    /// How to answer a request locally.
    enum AnswerAction {
        case none
        /// Write `problem` (head, body unless HEAD, end), closing after it if `close`; then call
        /// `responseEndWritten()` unless closing. `abandonUpstream`: close the upstream connection
        /// the request was using first.
        case write(ProblemResponse, close: Bool, abandonUpstream: Bool)
        /// A response has already begun: the client can only see it end early. Log the exchange
        /// with `problem`'s decision and close.
        case closeConnection(ProblemResponse, abandonUpstream: Bool)
    }

    enum ResponseHeadAction: Equatable {
        /// Not this connection's current exchange (a late event): ignore.
        case ignore
        /// Write the head; with `close`, add `Connection: close` (the connection ends with this response).
        case writeHead(close: Bool)
        /// Write the `101` head, flush, and hand both connections to the tunnel.
        case writeHeadAndTunnel
    }

    enum ResponseEndAction: Equatable {
        case ignore
        /// Give the upstream connection back (reusable or not), log, write the end; with `close`
        /// close the client connection once it is written, else call `responseEndWritten()`.
        case releaseAndEnd(reusable: Bool, close: Bool)
    }

    enum UpstreamFailureAction {
        case ignore
        /// Log the exchange as cut short and close the client connection.
        case closeConnection
        case answer(AnswerAction)
    }

    private(set) var state = State.idle
    let limits: Limits

    private(set) var keepAlive = true
    private(set) var requestEnded = false
    private var requestHasBody = false
    private var requestBodyBytes = 0
    private(set) var responseStarted = false
    private var responseEnded = false
    private var quiescing = false

    private var heldBody: [ByteBuffer] = []
    private var heldBodyBytes = 0

    private var pipelined = CircularBuffer<RequestPart>()
    private var pipelinedBytes = 0
    /// A parser error in a queued request: answered, and the connection closed, after the requests
    /// before it.
    private var pendingProblem: ProblemResponse?

    /// Whether the client should be read; the handler applies a change when `readingChange()` says.
    private var wantsClientReading = true
    private var clientReading = true

    init(limits: Limits) {
        self.limits = limits
    }

    // MARK: Reading interest

    /// A change of the client's read interest to apply, once (each change is an `epoll_ctl`).
    mutating func readingChange() -> Bool? {
        guard wantsClientReading != clientReading else { return nil }
        clientReading = wantsClientReading
        return clientReading
    }

    // MARK: Client parts

    /// Whether a part read now belongs to the request being handled (or starts one): everything
    /// after the end of a request that is still being answered waits in the queue.
    private var acceptsPart: Bool {
        switch state {
        case .idle: true
        case .closed, .tunnel: false
        case .preparing, .forwarding, .answeredLocally: !requestEnded
        }
    }

    /// A part the decoder read from the client.
    mutating func read(_ part: RequestPart) -> ReadAction {
        if pipelined.isEmpty, acceptsPart { return dispatch(part) }
        if state == .closed { return .none }
        switch part {
        case let .body(body, _): pipelinedBytes += body.readableBytes
        case .head: pipelinedBytes += limits.queuedHeadCost
        case .end: break
        }
        pipelined.append(part)
        if pipelinedBytes > limits.pipelinedBytes { wantsClientReading = false }
        return .none
    }

    /// The next queued part that belongs to the request being handled, dispatched; nil when there
    /// is none (then a pending parser error may be due: `pendingAnswer()`).
    mutating func drain() -> ReadAction? {
        guard acceptsPart, let part = pipelined.popFirst() else { return nil }
        switch part {
        case let .body(body, _): pipelinedBytes -= body.readableBytes
        case .head: pipelinedBytes -= limits.queuedHeadCost
        case .end: break
        }
        return dispatch(part)
    }

    /// A parser error that waited for the answers before it, once they are all written.
    mutating func pendingAnswer() -> ProblemResponse? {
        guard pipelined.isEmpty, state == .idle, let problem = pendingProblem else { return nil }
        pendingProblem = nil
        state = .closed
        return problem
    }

    private mutating func dispatch(_ part: RequestPart) -> ReadAction {
        switch part {
        case let .head(head, keepAlive):
            // A request queued behind one whose answer closes the connection is not served.
            if state == .closed { return .none }
            heldBody.removeAll(keepingCapacity: true)
            heldBodyBytes = 0
            requestEnded = false
            requestHasBody = false
            requestBodyBytes = 0
            responseStarted = false
            responseEnded = false
            self.keepAlive = keepAlive && !quiescing
            state = .preparing
            return .startRequest(head)
        case let .body(body, dataBytes):
            requestBodyBytes += dataBytes ?? body.readableBytes
            if requestBodyBytes > limits.maxBodyBytes {
                switch state {
                case .preparing, .forwarding:
                    return .answer(answer(.bodyTooLarge(limit: limits.maxBodyBytes)))
                default:
                    return .none
                }
            }
            switch state {
            case .preparing:
                heldBody.append(body)
                heldBodyBytes += body.readableBytes
                if heldBodyBytes > limits.heldBodyBytes { wantsClientReading = false }
                return .none
            case .forwarding:
                return .forwardBody(body)
            case .answeredLocally, .idle, .closed, .tunnel:
                return .none
            }
        case .end:
            requestEnded = true
            switch state {
            case .forwarding:
                return .forwardEnd
            case .answeredLocally where responseEnded:
                return completeRequest()
            default:
                return .none
            }
        }
    }

    /// The head passed validation; `hasBody`: it declared a body (Content-Length > 0 or chunked),
    /// without which its end follows at once.
    mutating func requestValidated(hasBody: Bool) {
        requestHasBody = hasBody
    }

    // MARK: Phases and the upstream connection

    enum PhasesAction {
        /// Not the request being prepared (a late answer): nothing to do.
        case ignore
        /// Get an upstream connection, then call `upstreamReady()`.
        case forward
        case answer(AnswerAction)
    }

    /// The phases have decided: nil problem to forward, else answer with it.
    mutating func phasesFinished(problem: ProblemResponse?) -> PhasesAction {
        guard state == .preparing else { return .ignore }
        if let problem { return .answer(answer(problem)) }
        return .forward
    }

    /// The upstream connection is ready: `write` gets each held body part in order (a closure that
    /// does not escape, so the held array is neither copied nor reallocated), and the result says
    /// whether the request has ended (write its end too). Nil: the request is no longer waiting for
    /// the connection (release it).
    mutating func upstreamReady(writingHeldBody write: (ByteBuffer) -> Void) -> Bool? {
        guard state == .preparing else { return nil }
        state = .forwarding
        for part in heldBody { write(part) }
        heldBody.removeAll(keepingCapacity: true)
        heldBodyBytes = 0
        return requestEnded
    }

    /// The upstream connection's writability: the client is read only while the upstream keeps up
    /// with the request body.
    mutating func upstreamWritabilityChanged(writable: Bool) {
        guard state == .forwarding, !requestEnded else { return }
        wantsClientReading = writable
    }

    /// No upstream connection could be made.
    mutating func upstreamConnectFailed(_ problem: ProblemResponse) -> AnswerAction {
        guard state == .preparing else { return .none }
        return answer(problem)
    }

    /// The upstream took too long to start its response.
    mutating func upstreamTimedOut() -> AnswerAction {
        guard state == .forwarding, !responseStarted else { return .none }
        return answer(.gatewayTimeout())
    }

    // MARK: The upstream's response

    /// `isSwitch`: a `101` to an upgrade request; `isUpgradeRequest`: the request asked to upgrade;
    /// `endsWithClose`: the response reaches the client delimited by the close of the connection.
    mutating func upstreamHead(isSwitch: Bool, isUpgradeRequest: Bool, endsWithClose: Bool = false) -> ResponseHeadAction {
        guard state == .forwarding else { return .ignore }
        responseStarted = true
        if isSwitch {
            state = .tunnel
            return .writeHeadAndTunnel
        }
        // An early answer while the client is still sending: the rest of its body cannot be told
        // apart from a next request. After a refused upgrade the client's parser has stopped at its
        // upgrade request: no more HTTP on this connection either.
        if !requestEnded || isUpgradeRequest || endsWithClose { keepAlive = false }
        return .writeHead(close: !keepAlive)
    }

    mutating func upstreamEnd() -> ResponseEndAction {
        guard state == .forwarding else { return .ignore }
        return .releaseAndEnd(reusable: requestEnded, close: endResponse())
    }

    mutating func upstreamFailed() -> UpstreamFailureAction {
        guard state == .forwarding else { return .ignore }
        if responseStarted {
            state = .closed
            return .closeConnection
        }
        // Not yet answered: a 502 in its place.
        return .answer(answer(.badGateway("the upstream closed the connection before responding")))
    }

    // MARK: Answers and the end of a request

    /// Answers the current request with a problem (refusals and failures), or closes when a
    /// response has already begun.
    mutating func answer(_ problem: ProblemResponse) -> AnswerAction {
        switch state {
        case .preparing, .forwarding, .answeredLocally: break
        case .idle, .tunnel, .closed: return .none
        }
        let abandonUpstream = state == .forwarding
        state = .answeredLocally
        heldBody.removeAll()
        heldBodyBytes = 0
        if responseStarted {
            state = .closed
            return .closeConnection(problem, abandonUpstream: abandonUpstream)
        }
        responseStarted = true
        // Unread body bytes would be taken for the next request: close after answering.
        let close = problem.closeConnection || (requestHasBody && !requestEnded) || !keepAlive
        _ = endResponse(close: close)
        return .write(problem, close: close, abandonUpstream: abandonUpstream)
    }

    /// Marks the response ended; true when the connection closes with it.
    private mutating func endResponse(close: Bool = false) -> Bool {
        responseEnded = true
        if close || !keepAlive {
            keepAlive = false
            state = .closed
            return true
        }
        // Neither forwarding (the upstream connection is let go) nor idle (nothing new starts
        // before the end is written).
        state = .answeredLocally
        return false
    }

    /// The response's end is written (and it did not close the connection): on to the next request
    /// if this one's end has been read, else wait for it (`read(.end)` completes it).
    mutating func responseEndWritten() -> ReadAction {
        guard state == .answeredLocally, responseEnded, requestEnded else { return .none }
        return completeRequest()
    }

    private mutating func completeRequest() -> ReadAction {
        state = .idle
        if pendingProblem == nil { wantsClientReading = true }
        return .requestComplete
    }

    // MARK: Connection events

    /// The decoder refused what the client sent: `problem` is 431 for a head over the limit, 400
    /// otherwise. Never a second response, never out of order: an error in a queued request waits
    /// for the answers to the requests before it.
    mutating func parserError(_ problem: ProblemResponse) -> ParserErrorAction {
        wantsClientReading = false
        switch state {
        case .idle where pipelined.isEmpty:
            state = .closed
            return .answerAndClose(problem)
        case .preparing, .forwarding, .answeredLocally:
            if acceptsPart && pipelined.isEmpty {
                // The request being handled is itself malformed (its body, say).
                if state == .answeredLocally, responseEnded { return .close }
                return .answer(answer(problem))
            }
            pendingProblem = problem
            return .none
        case .idle:
            pendingProblem = problem
            return .none
        case .closed, .tunnel:
            return .close
        }
    }

    enum ParserErrorAction {
        case none
        case close
        /// No request to attach it to: write it with a new request id, then close.
        case answerAndClose(ProblemResponse)
        case answer(AnswerAction)
    }

    /// The client sent nothing for the idle timeout. True: close (the state follows when the
    /// connection is gone: `clientClosed()`). Silent between requests, or stalled mid-upload;
    /// waiting on the upstream is not the client's silence.
    func idleTimeout() -> Bool {
        switch state {
        case .idle, .preparing, .answeredLocally: true
        case .forwarding: !requestEnded
        case .tunnel, .closed: false
        }
    }

    /// Graceful shutdown: true to close now (idle); a busy connection closes after its response.
    mutating func quiesce() -> Bool {
        quiescing = true
        keepAlive = false
        return state == .idle && pipelined.isEmpty
    }

    /// The client connection is gone. True: close the upstream connection in use (its exchange
    /// cannot finish cleanly).
    mutating func clientClosed() -> Bool {
        let abandon = state == .forwarding
        state = .closed
        return abandon
    }
}

@available(*, unavailable)
extension ConnectionStateMachine: Sendable {}
