import Foundation
import TestSupport
import Testing

/// TLS on the client side, checked with curl as an independent TLS client.
@Suite("TLS")
struct TLSTests {
    static let tls = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tls")

    func file(_ name: String) -> String { Self.tls.appendingPathComponent(name).path }

    /// curl's exit status and the HTTP status it saw ("000" when the handshake failed).
    func curl(_ arguments: [String]) throws -> (status: Int32, http: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    @Test("serves HTTPS with --tls-cert and --tls-key, and tells the upstream it was https")
    func https() throws {
        let fixture = try ProxyFixture(arguments: ["--tls-cert", file("server.pem"), "--tls-key", file("server-key.pem")])
        let result = try curl(["--cacert", file("ca.pem"), "https://127.0.0.1:\(fixture.proxy.port)/echo"])
        #expect(result.http == "200")
        #expect(fixture.upstream.received.last?.header("x-forwarded-proto") == "https")
        let plain = try curl(["http://127.0.0.1:\(fixture.proxy.port)/echo"])
        #expect(plain.http != "200", "plain HTTP on the TLS port is refused")
    }

    @Test("with --tls-client-ca a client certificate is required")
    func clientCertificates() throws {
        let fixture = try ProxyFixture(arguments: [
            "--tls-cert", file("server.pem"), "--tls-key", file("server-key.pem"), "--tls-client-ca", file("ca.pem"),
        ])
        let url = "https://127.0.0.1:\(fixture.proxy.port)/echo"
        let without = try curl(["--cacert", file("ca.pem"), url])
        #expect(without.http != "200")
        let with = try curl(["--cacert", file("ca.pem"), "--cert", file("client.pem"), "--key", file("client-key.pem"), url])
        #expect(with.http == "200")
    }

    @Test("an unreadable certificate is a start-up error")
    func badCertificate() throws {
        let result = try BuiltBinary("tollgate-proxy").run([
            "run", "--upstream", "http://127.0.0.1:1", "--tls-cert", "/nonexistent.pem", "--tls-key", file("server-key.pem"),
            "--listen", "127.0.0.1:\(freeLoopbackPort())", "--admin", "127.0.0.1:\(freeLoopbackPort())",
            "--policies", ValidateCommandTests.repository.appendingPathComponent("policies").path,
        ])
        #expect(result.status == 1)
        #expect(result.stderr.contains("tollgate-proxy: cannot set up TLS"))
    }
}
