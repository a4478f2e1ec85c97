import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing
@testable import tollgate_control

/// `/metrics` through swift-metrics and swift-prometheus: the names the deploy/ rules and the
/// dashboard read, request durations from RequestMetrics, and one registry per
/// server even when several share a process.
@Suite("control-plane metrics")
struct MetricsTests {
    @Test("request counts and durations by route template, method and status; every family has help; promtool accepts it",
          arguments: Setup.both(.sqlite))
    func exposition(setup: Setup) async throws {
        let server = try await ControlHarness(setup)
        _ = try await server.token()
        #expect(try await server.form("/oauth/token", [("grant_type", "client_credentials")], basic: ("admin", "wrong")).status == 401)
        #expect(try await server.request("GET", "/v1/clients/nope").status == 401)
        #expect(try await server.request("GET", "/nowhere").status == 404)
        let text = try await server.request("GET", "/metrics").text
        for line in [
            #"tollgate_control_http_requests_total{route="/oauth/token",method="POST",status="200"} 1"#,
            #"tollgate_control_http_requests_total{route="/oauth/token",method="POST",status="401"} 1"#,
            #"tollgate_control_http_requests_total{route="/v1/clients/:id",method="GET",status="401"} 1"#,
            #"tollgate_control_http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
            #"tollgate_control_http_request_duration_seconds_count{route="/oauth/token",method="POST",status="200"} 1"#,
            #"tollgate_control_token_errors_total{error="invalid_client"} 1"#,
            #"tollgate_control_tokens_issued_total{grant_type="client_credentials"} 1"#,
            "tollgate_control_refresh_reuse_total 0",
            // Known label values are there before their first event.
            #"tollgate_control_tokens_issued_total{grant_type="password"} 0"#,
            #"tollgate_control_token_errors_total{error="invalid_grant"} 0"#,
            #"tollgate_control_introspections_total{active="true"} 0"#,
            "tollgate_control_signing_keys_published 1",
        ] {
            #expect(text.contains(line), "\(line) in\n\(text)")
        }
        let families = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        for family in families { #expect(text.contains("# HELP \(family) "), "help for \(family)") }
        #expect(!text.contains("hb_") && !text.contains("http_server_"), "Hummingbird's names are mapped to ours")

        let promtool = "/usr/bin/promtool"
        if FileManager.default.isExecutableFile(atPath: promtool) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: promtool)
            process.arguments = ["check", "metrics"]
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = output
            try process.run()
            input.fileHandleForWriting.write(Data(text.utf8))
            try input.fileHandleForWriting.close()
            let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "promtool check metrics: \(report)")
        }
        await server.stop()
    }

    @Test("two servers in one process count apart")
    func registryPerServer() async throws {
        let first = try await ControlHarness(Setup(engine: .sqlite, transport: .inProcess))
        let second = try await ControlHarness(Setup(engine: .sqlite, transport: .inProcess))
        _ = try await first.token()
        _ = try await first.token()
        _ = try await second.token()
        let route = #"tollgate_control_http_requests_total{route="/oauth/token",method="POST",status="200"}"#
        #expect(try await first.request("GET", "/metrics").text.contains("\(route) 2"))
        #expect(try await second.request("GET", "/metrics").text.contains("\(route) 1"))
        await first.stop()
        await second.stop()
    }
    @Test("a buffered answer is counted when returned; a streamed one once its body is written, in flight until then")
    func streamedBodies() async throws {
        let metrics = ControlMetrics()
        let router = Router(context: ControlContext.self)
        router.add(middleware: RequestMetrics(metrics))
        router.get("/buffered") { _, _ in Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "one"))) }
        router.get("/stream") { _, _ in
            Response(status: .ok, body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "part"))
                try await writer.finish(nil)
            })
        }
        let responder = router.buildResponder()
        let channel = EmbeddedChannel()
        func call(_ path: String) async throws -> Response {
            let request = Request(head: HTTPRequest(method: .get, scheme: nil, authority: "127.0.0.1", path: path), body: RequestBody(buffer: ByteBuffer()))
            return try await responder.respond(to: request, context: ControlContext(source: ApplicationRequestContextSource(channel: channel, logger: Logger(label: "test"))))
        }
        let buffered = #"tollgate_control_http_requests_total{route="/buffered",method="GET",status="200"} 1"#
        let streamed = #"tollgate_control_http_requests_total{route="/stream",method="GET",status="200"} 1"#
        let inFlight = #"tollgate_control_http_requests_in_flight{method="GET"} "#
        _ = try await call("/buffered")
        #expect(metrics.render().contains(buffered))
        #expect(metrics.render().contains(inFlight + "0"))
        let response = try await call("/stream")
        #expect(!metrics.render().contains(streamed), "not counted before its body is written")
        #expect(metrics.render().contains(inFlight + "1"))
        let writer = CountingWriter()
        try await response.body.write(writer)
        #expect(writer.bytes.withLock { $0 } == 4)
        #expect(metrics.render().contains(streamed))
        #expect(metrics.render().contains(inFlight + "0"))
    }
}

private final class CountingWriter: ResponseBodyWriter, Sendable {
    let bytes = Mutex(0)
    func write(_ buffer: ByteBuffer) async throws { bytes.withLock { $0 += buffer.readableBytes } }
    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
