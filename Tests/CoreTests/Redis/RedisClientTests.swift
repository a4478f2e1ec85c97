import Core
import Foundation
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// The NIO Redis client against a real redis-server on a loopback port. The client belongs to one
/// event loop; tests reach it through `NIOLoopBound`, which checks they do so on that loop.
@Suite("Redis client", .serialized)
struct RedisClientTests {
    typealias Bound = NIOLoopBound<RedisClient>
    let group = MultiThreadedEventLoopGroup.singleton

    func makeClient(_ url: String, timeout: TimeAmount = .milliseconds(500)) async throws -> Bound {
        let loop = group.next()
        let endpoint = try #require(RedisEndpoint(url: url))
        let client = try await loop.submit {
            let client = RedisClient(loop: loop, endpoint: endpoint, timeout: timeout)
            client.start()
            return Bound(client, eventLoop: loop)
        }.get()
        try await ready(client)
        return client
    }

    /// Checks once more after the deadline: on a CI machine whose cooperative threads are busy with
    /// other suites' blocking work, the sleep can end long after the deadline, and the client may
    /// have been ready for most of that time.
    func ready(_ client: Bound, within seconds: Double = 5) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while true {
            if try await client.eventLoop.submit({ client.value.state == .ready }).get() { return }
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw RedisClient.Failure.unavailable("never ready")
    }

    func send(_ client: Bound, _ arguments: String...) async throws -> RESPValue {
        try await client.eventLoop.flatSubmit { client.value.send(arguments.map { Array($0.utf8) }) }.get()
    }

    func close(_ client: Bound) async throws {
        try await client.eventLoop.submit { client.value.close() }.get()
    }

    @Test("pipelined replies come back in order, under many concurrent commands")
    func pipelining() async throws {
        let server = try RedisServer()
        // A generous deadline: this is about order, and 4 000 commands are queued in one go.
        let client = try await makeClient(server.url, timeout: .seconds(10))
        let replies = try await client.eventLoop.flatSubmit {
            let futures = (0..<2_000).flatMap { index in
                [client.value.send("SET", "k\(index)", "v\(index)"), client.value.send("GET", "k\(index)")]
            }
            return EventLoopFuture.whenAllSucceed(futures, on: client.eventLoop)
        }.get()
        #expect(replies.count == 4_000)
        for index in 0..<2_000 {
            #expect(replies[2 * index] == .simpleString("OK"))
            #expect(replies[2 * index + 1] == .bulkString(Array("v\(index)".utf8)))
        }
        try await close(client)
    }

    @Test("replies of every kind: status, error, integer, nil, nested arrays, binary bulk strings")
    func replyKinds() async throws {
        let server = try RedisServer()
        let client = try await makeClient(server.url)
        #expect(try await send(client, "PING") == .simpleString("PONG"))
        if case let .error(message) = try await send(client, "NOSUCHCOMMAND") { #expect(message.hasPrefix("ERR")) } else { Issue.record("no error") }
        #expect(try await send(client, "INCRBY", "n", "41") == .integer(41))
        #expect(try await send(client, "GET", "missing") == .null)
        _ = try await client.eventLoop.flatSubmit { client.value.send([Array("SET".utf8), Array("bin".utf8), [0, 13, 10, 255]]) }.get()
        #expect(try await send(client, "GET", "bin") == .bulkString([0, 13, 10, 255]))
        #expect(try await send(client, "EVAL", "return {1, {2, 'x'}}", "0")
                == .array([.integer(1), .array([.integer(2), .bulkString(Array("x".utf8))])]))
        try await close(client)
    }

    @Test("a command beyond the timeout fails as timedOut at the deadline; the client reconnects afterwards")
    func timeout() async throws {
        let server = try RedisServer()
        let client = try await makeClient(server.url, timeout: .milliseconds(100))
        do {
            _ = try await send(client, "DEBUG", "SLEEP", "0.5")
            Issue.record("DEBUG SLEEP 0.5 answered within 100 ms")
        } catch let error as RedisClient.Failure {
            #expect(error == .timedOut)
        }
        // `.timedOut` (not the reply) already says the deadline came first; no wall-clock bound,
        // which flakes on a loaded machine.
        try await Task.sleep(for: .milliseconds(600))
        try await ready(client)
        #expect(try await send(client, "PING") == .simpleString("PONG"))
        try await close(client)
    }

    @Test("while the server is down commands fail at once; after a restart the client is back within seconds")
    func reconnect() async throws {
        let server = try RedisServer()
        // A long command timeout: had the client waited on the dead server, the answer would be
        // `.timedOut`; failing at once says `.unavailable`. (No wall-clock bound: it flakes on a
        // loaded machine, where 0.4 s was once seen between two lines.)
        let client = try await makeClient(server.url, timeout: .seconds(5))
        server.kill()
        try await Task.sleep(for: .milliseconds(200))
        do {
            let reply = try await send(client, "PING")
            Issue.record("a dead server answered \(reply)")
        } catch let failure as RedisClient.Failure {
            guard case .unavailable = failure else {
                Issue.record("no waiting on a server that is down: got \(failure)")
                return
            }
        }
        try server.start()
        try await ready(client, within: 5)
        #expect(try await send(client, "PING") == .simpleString("PONG"))
        try await close(client)
    }

    @Test("AUTH and SELECT come from the URL; the password is never printed")
    func authAndSelect() async throws {
        let server = try RedisServer(password: "s3cret")
        let endpoint = try #require(RedisEndpoint(url: server.url + "/3"))
        #expect(endpoint.database == 3 && endpoint.password == "s3cret")
        #expect(!endpoint.description.contains("s3cret"))
        let client = try await makeClient(server.url + "/3")
        let info = try await send(client, "CLIENT", "INFO")
        #expect(info.string?.contains("db=3") == true, "\(info)")
        try await close(client)
    }

    @Test("a password and an ACL user with %, : and @, percent-encoded in the URL, authenticate as written")
    func reservedCharactersInCredentials() async throws {
        let password = "50%off:p@ss/w0rd%"
        let user = (name: "edge@tollgate", password: "100%:@sure")
        let server = try RedisServer(password: password, user: user)
        #expect(server.url.contains(":50%25off%3Ap%40ss%2Fw0rd%25@"), "\(server.url)")
        let endpoint = try #require(RedisEndpoint(url: server.url))
        #expect(endpoint.password == password && endpoint.username == nil)
        let client = try await makeClient(server.url)
        #expect(try await send(client, "ACL", "WHOAMI") == .bulkString(Array("default".utf8)))
        try await close(client)

        let userURL = try #require(server.userURL)
        let userEndpoint = try #require(RedisEndpoint(url: userURL))
        #expect(userEndpoint.username == user.name && userEndpoint.password == user.password)
        #expect(!userEndpoint.description.contains("sure"), "the password is never printed")
        let asUser = try await makeClient(userURL)
        #expect(try await send(asUser, "ACL", "WHOAMI") == .bulkString(Array(user.name.utf8)), "AUTH user password")
        try await close(asUser)
    }

    @Test("a wrong password never yields an unauthenticated connection: the client stays down and says why")
    func wrongPassword() async throws {
        let server = try RedisServer(password: "right")
        let loop = group.next()
        let endpoint = try #require(RedisEndpoint(url: "redis://:wrong@127.0.0.1:\(server.port)"))
        let client = try await loop.submit {
            let client = RedisClient(loop: loop, endpoint: endpoint, timeout: .milliseconds(200))
            client.start()
            return Bound(client, eventLoop: loop)
        }.get()
        // Long enough for several handshakes (back-off starts at 100 ms); none may come up.
        let deadline = ContinuousClock.now + .seconds(1)
        while ContinuousClock.now < deadline {
            #expect(try await client.eventLoop.submit({ client.value.state }).get() != .ready)
            try await Task.sleep(for: .milliseconds(20))
        }
        do {
            _ = try await send(client, "PING")
            Issue.record("PING answered on a connection whose AUTH failed")
        } catch let RedisClient.Failure.unavailable(reason) {
            #expect(reason.contains("WRONGPASS"), "the reason names the refused AUTH: \(reason)")
            #expect(!reason.contains("wrong"), "the password is never printed: \(reason)")
        }
        try await close(client)
    }

    @Test("a connect() that never completes gives up at the connect timeout; meanwhile commands fail at once")
    func connectTimeout() async throws {
        let listener = try StalledListener()
        let loop = group.next()
        let endpoint = try #require(RedisEndpoint(url: "redis://127.0.0.1:\(listener.port)"))
        let start = ContinuousClock.now
        let client = try await loop.submit {
            let client = RedisClient(loop: loop, endpoint: endpoint, timeout: .milliseconds(100))
            client.start()
            return Bound(client, eventLoop: loop)
        }.get()
        let connectTimeout = try await client.eventLoop.submit { client.value.connectTimeout }.get()
        #expect(connectTimeout == .milliseconds(200), "the command timeout, raised to the 200 ms floor")

        // No command waits on a connect in progress: it fails as `.unavailable` at once, not as
        // `.timedOut` after the 100 ms command timeout.
        do {
            let reply = try await send(client, "PING")
            Issue.record("a stalled listener answered \(reply)")
        } catch let failure as RedisClient.Failure {
            if case .unavailable = failure {} else { Issue.record("waited on the connect: \(failure)") }
        }
        // Still connecting, unless this machine was too loaded to get here within the 200 ms (seen
        // at a load average of 11 on 2 cores); the timing checks below cover the attempt's end.
        let state = try await client.eventLoop.submit { client.value.state }.get()
        if ContinuousClock.now - start < .milliseconds(150) {
            #expect(state == .connecting)
        }

        var reason: String?
        let deadline = start + .seconds(3)
        while true {
            reason = try await client.eventLoop.submit { client.value.lastError }.get()
            if reason != nil || ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        let elapsed = ContinuousClock.now - start
        let failure = try #require(reason, "the connect attempt never ended")
        #expect(failure.contains("connect") && failure.lowercased().contains("timeout"), "\(failure)")
        // Not refused at once (that would be a closed port), and not left to the kernel's SYN
        // retries (a blocked connect would last minutes): it ends at 200 ms. The upper margin is
        // for scheduling on a loaded 2-core CI machine running other suites at the same time.
        #expect(elapsed >= .milliseconds(190), "\(elapsed)")
        #expect(elapsed < .milliseconds(1_500), "\(elapsed)")
        try await close(client)
    }

    @Test("URLs", arguments: ["redis://127.0.0.1", "redis://h:1/0", "redis://:p%40ss@h:6380/2", "redis://u%3A1:p@h"])
    func urls(_ url: String) {
        #expect(RedisEndpoint(url: url) != nil)
    }

    @Test("credentials are percent-decoded exactly once")
    func credentialDecoding() throws {
        // `50%off` is written `50%25off`; decoding twice failed on the lone `%`, and AUTH was skipped.
        #expect(RedisEndpoint(url: "redis://:50%25off@h")?.password == "50%off")
        // Foundation takes a `%` that starts no escape literally (it encodes it as `%25` itself), so
        // this one used to lose its password the same way.
        #expect(RedisEndpoint(url: "redis://:50%off@h")?.password == "50%off")
        #expect(RedisEndpoint(url: "redis://:%2541@h")?.password == "%41", "not decoded a second time into A")
        #expect(RedisEndpoint(url: "redis://:a%3Ab%40c@h")?.password == "a:b@c")
        let acl = try #require(RedisEndpoint(url: "redis://ops%40edge:s%3Acret@h:7000/1"))
        #expect(acl.username == "ops@edge" && acl.password == "s:cret" && acl.port == 7000 && acl.database == 1)
        #expect(acl.description == "redis://ops%40edge@h:7000/1", "the user is shown, encoded; the password never")
        let plain = try #require(RedisEndpoint(url: "redis://:@h"))
        #expect(plain.password == nil && plain.username == nil, "an empty password is no AUTH")
    }

    @Test("bad URLs", arguments: [
        "http://h", "redis://", "redis://h:0", "redis://h/x", "redis://h/-1",
        // A user without a password: no AUTH could be sent for it.
        "redis://alice@h", "redis://alice:@h",
    ])
    func badURLs(_ url: String) {
        #expect(RedisEndpoint(url: url) == nil)
    }
}
