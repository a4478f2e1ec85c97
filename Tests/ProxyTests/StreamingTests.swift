import Core
import Foundation
import TestSupport
import Testing

/// Bodies stream through with back-pressure both ways: a transfer far larger than any buffer passes
/// intact (checked by SHA-256 at the far end) while the proxy's peak memory stays flat.
@Suite("Streaming large bodies")
struct StreamingTests {
    static let size = 1 << 30  // 1 GiB
    static let memoryCeiling = 192 << 20

    @Test("a 1 GiB upload (Content-Length) arrives intact, with bounded proxy memory")
    func upload() throws {
        let fixture = try ProxyFixture(arguments: ["--max-body-bytes", String(Self.size)])
        let connection = try fixture.proxy.connect(timeout: 60)
        try connection.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: \(Self.size)\r\n\r\n")
        var remaining = Self.size
        while remaining > 0 {
            let n = min(remaining, TestData.pattern.count)
            try connection.send(Array(TestData.pattern[0..<n]))
            remaining -= n
        }
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.json["body_bytes"] as? Int == Self.size)
        #expect(response.json["body_sha256"] as? String == TestData.sha256(ofPatternBytes: Self.size))
        let peak = try #require(fixture.proxy.peakResidentBytes)
        print("tollgate-proxy peak RSS after a 1 GiB upload: \(peak >> 20) MiB")
        #expect(peak < Self.memoryCeiling, "peak RSS \(peak >> 20) MiB")
    }

    @Test("a chunked upload is re-chunked to the upstream intact")
    func chunkedUpload() throws {
        let fixture = try ProxyFixture()
        let connection = try fixture.proxy.connect(timeout: 30)
        try connection.send("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        let total = 3 * TestData.pattern.count + 123
        var remaining = total
        while remaining > 0 {
            let n = min(remaining, TestData.pattern.count)
            try connection.send(Array(String(n, radix: 16).utf8) + [13, 10] + Array(TestData.pattern[0..<n]) + [13, 10])
            remaining -= n
        }
        try connection.send("0\r\n\r\n")
        let response = try connection.readResponse()
        #expect(response.json["body_bytes"] as? Int == total)
        #expect(response.json["body_sha256"] as? String == TestData.sha256(ofPatternBytes: total))
        #expect(fixture.upstream.received.last?.header("transfer-encoding") == "chunked")
    }

    @Test("a 1 GiB download arrives intact, with bounded proxy memory, read by a slow client")
    func download() throws {
        let fixture = try ProxyFixture()
        let connection = try fixture.proxy.connect(timeout: 60)
        try connection.send("GET /download?bytes=\(Self.size) HTTP/1.1\r\nHost: a\r\n\r\n")
        let head = try connection.readHeadLines()
        #expect(head.first?.hasPrefix("HTTP/1.1 200") == true)
        var hasher = SHA256Hasher()
        var received = 0
        try connection.readDiscarding(Self.size) { bytes in
            if received < 64 << 20 { usleep(200) }  // slow at first, so back-pressure has to hold the upstream
            received += bytes.count
            hasher.update(Array(bytes))
        }
        #expect(Hex.encode(hasher.finalize()) == TestData.sha256(ofPatternBytes: Self.size))
        let peak = try #require(fixture.proxy.peakResidentBytes)
        print("tollgate-proxy peak RSS after a 1 GiB download: \(peak >> 20) MiB")
        #expect(peak < Self.memoryCeiling, "peak RSS \(peak >> 20) MiB")
    }
}
