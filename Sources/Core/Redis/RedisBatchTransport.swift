/// How `RedisBuckets` reaches Redis: one pipelined connection owned by one event loop, and that
/// loop's "end of this turn". Two conform: SwiftNIO's `RedisClient` (here) and the data path's own
/// loop connection, `LoopRedisTransport` (module `TollgateLoopRedis`, over `Reactor`). Everything
/// is called on the transport's loop; nothing here is thread-safe.
///
/// The contract `RedisBuckets` relies on:
/// - While not `isUp`, `send` fails the receiver at once (`RedisClient.Failure.unavailable`): a
///   request never waits on a Redis that is down. While up, `send` never tells the receiver before
///   it returns.
/// - Each command sent gets exactly one `received` or `failed`, in the order sent; a command that
///   outlives the transport's timeout fails with `.timedOut`, with everything behind it.
/// - `isUp` turns true only once a new connection has done AUTH, SELECT and the connect command
///   (`setConnectCommand`), so the first command of a connection finds the script loaded.
public protocol RedisBatchTransport: AnyObject {
    /// Where it connects (for log lines; the password is never printed).
    var endpoint: RedisEndpoint { get }
    /// Connected, and the handshake is done: commands sent now go out.
    var isUp: Bool { get }
    /// Why the last connection attempt or connection failed; nil while up or before the first try.
    var lastError: String? { get }
    /// Called on the loop for each `RedisClient.StatusChange`: ready (again), or unavailable once
    /// per outage (not on every retry). The proxy logs them.
    var onStatusChange: ((RedisClient.StatusChange) -> Void)? { get set }
    /// Called on the loop at the end of a turn in which `requestEndOfTurn` was called: after the
    /// turn's events, before the loop waits again. Set once, by the owner; stored, so asking for it
    /// allocates nothing.
    var onEndOfTurn: (() -> Void)? { get set }

    /// Asks for one `onEndOfTurn` call at the end of the current turn (SwiftNIO: a task queued on
    /// the loop; the data path's loop: `Reactor.runAtEndOfTurn`). The caller keeps a flag so it asks
    /// once per turn.
    func requestEndOfTurn()

    /// A command run on every new connection after AUTH and SELECT and before `isUp` turns true
    /// (the rate-limit script's `SCRIPT LOAD`). `check` reads its reply: nil to go on, or why the
    /// connection is dropped (and made again after the back-off). Set once, before `start()`.
    func setConnectCommand(_ arguments: [String], check: @escaping (RESPValue) -> String?)

    /// Sends one command; its reply goes to `receiver` read in place, or its failure.
    func send(_ command: RESPCommand.Arguments, to receiver: any RedisReplyReceiver)

    /// Starts connecting (and reconnecting whenever the connection is lost).
    func start()

    /// Closes for good; what is in flight fails with `.unavailable`.
    func close()
}

/// Takes a reply read in place (valid only during `received`), or the command's failure (a
/// `RedisClient.Failure`).
public protocol RedisReplyReceiver: AnyObject {
    func received(_ reply: RawReply)
    func failed(_ error: any Error)
}
