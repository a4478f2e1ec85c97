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

    func ready(_ client: Bound, within seconds: Double = 5) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await client.eventLoop.submit({ client.value.state == .ready }).get() { return }
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
        let start = ContinuousClock.now
        do {
            _ = try await send(client, "DEBUG", "SLEEP", "0.5")
            Issue.record("DEBUG SLEEP 0.5 answered within 100 ms")
        } catch let error as RedisClient.Failure {
            #expect(error == .timedOut)
        }
        #expect(ContinuousClock.now - start < .milliseconds(400), "failed at the deadline, not when Redis answered")
        try await Task.sleep(for: .milliseconds(600))
        try await ready(client)
        #expect(try await send(client, "PING") == .simpleString("PONG"))
        try await close(client)
    }

    @Test("while the server is down commands fail at once; after a restart the client is back within seconds")
    func reconnect() async throws {
        let server = try RedisServer()
        let client = try await makeClient(server.url, timeout: .milliseconds(200))
        server.kill()
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        await #expect(throws: RedisClient.Failure.self) { try await send(client, "PING") }
        #expect(ContinuousClock.now - start < .milliseconds(100), "no waiting on a server that is down")
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

    @Test("URLs", arguments: ["redis://127.0.0.1", "redis://h:1/0", "redis://:p%40ss@h:6380/2"])
    func urls(_ url: String) {
        #expect(RedisEndpoint(url: url) != nil)
    }

    @Test("bad URLs", arguments: ["http://h", "redis://", "redis://h:0", "redis://h/x", "redis://h/-1"])
    func badURLs(_ url: String) {
        #expect(RedisEndpoint(url: url) == nil)
    }
}
