import Foundation
import NIOCore
import Testing

@testable import Core

/// The chunked-body tracker against llhttp: generated and mutated chunked bodies (bad sizes,
/// overflow, extensions, missing CRLFs, trailers) after a request head, compared for refuse or
/// accept, the data bytes and where the body ends. Same seeds and case count as the head run
/// (`TOLLGATE_DIFF_CASES`, a tenth of it here).
@Suite("Chunked body differential against llhttp")
struct ChunkedBodyDifferentialTests {
    static let head = Array("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)

    /// Where the tracker refuses what llhttp accepts, on purpose (docs/http-parser.md).
    static let stricterClasses: Set<String> = [
        "bad-chunk-extension: whitespace", "chunk-size-overflow: over 2^60", "bad-chunk-extension: over the length limit",
        "bad-chunk-extension: empty name or value", "bad-trailer: framing field in trailers", "bad-chunk-extension: DEL",
    ]

    @Test("chunked bodies: the tracker and llhttp agree, or the tracker is deliberately stricter")
    func bodies() throws {
        let cases = max(1_000, HeadParserDifferentialTests.cases / 10)
        var generator = HeadGenerator(seed: HeadParserDifferentialTests.seed &+ 2)
        var tally = Differential.Tally()
        let started = Date()
        for _ in 0..<cases {
            let body = generator.chunkedBody()
            try Self.compare(body, into: &tally)
        }
        tally.seconds = Date().timeIntervalSince(started)
        tally.print(label: "chunked bodies")
        #expect(tally.failures.isEmpty, "\(tally.failureReport)")
        #expect(tally.counts["agree: complete", default: 0] > cases / 5)
        #expect(tally.counts["agree: refused", default: 0] > cases / 5)
    }

    static func compare(_ body: [UInt8], into tally: inout Differential.Tally) throws {
        var tracker = ChunkedBodyTracker()
        let ours: Result<ChunkedBodyTracker.Progress, HTTPHeadError>
        do {
            ours = .success(try tracker.consume(ByteBuffer(bytes: body)))
        } catch {
            ours = .failure(error)
        }
        let oracle = try NIOOracle(.request)
        defer { oracle.finish() }
        switch ours {
        case let .success(progress):
            let fed = oracle.feed(head + body[0..<progress.bodyBytes])
            let expectedEnds = progress.isComplete ? 1 : 0
            if fed.error != nil || fed.bodyBytes != progress.dataBytes || fed.ends != expectedEnds {
                tally.count(
                    "FAIL: we accept, llhttp differs", body,
                    detail: "ours \(progress); llhttp \(fed.bodyBytes) data bytes, \(fed.ends) ends, \(fed.error.map { "\($0)" } ?? "no error")")
            } else {
                tally.count(progress.isComplete ? "agree: complete" : "agree: incomplete", body)
            }
        case let .failure(error):
            let fed = oracle.feed(head + body)
            if fed.error != nil && fed.ends == 0 {
                tally.count("agree: refused", body)
                return
            }
            // llhttp accepted more than we did. It must not have ended the body before the byte we
            // refuse at (a framing difference), only read on past it (a stricter refusal).
            let prefix = try NIOOracle(.request)
            defer { prefix.finish() }
            let before = prefix.feed(head + body[0..<min(body.count, error.offset)])
            if before.ends > 0 {
                tally.count("FAIL: llhttp ended the body before the byte we refuse", body, detail: "\(error)")
            } else {
                let stricter = stricterClass(error, body)
                tally.count(stricterClasses.contains(stricter) ? "stricter: \(stricter)" : "FAIL: we refuse (\(stricter)), llhttp accepts", body, detail: "\(error)")
            }
        }
    }

    static func stricterClass(_ error: HTTPHeadError, _ body: [UInt8]) -> String {
        let code = error.code.rawValue
        let byte = error.offset < body.count ? body[error.offset] : 0
        switch error.code {
        case .badChunkExtension where byte == 0x7F:
            return "\(code): DEL"
        case .badChunkExtension where byte == 0x20 || byte == 0x09:
            return "\(code): whitespace"
        case .badChunkExtension where error.offset > 0 && (body[error.offset - 1] == UInt8(ascii: ";") || body[error.offset - 1] == UInt8(ascii: "=")):
            return "\(code): empty name or value"
        case .badTrailer where byte == UInt8(ascii: ":"):
            return "\(code): framing field in trailers"
        case .badChunkExtension where error.offset > 1000:
            return "\(code): over the length limit"
        case .chunkSizeOverflow:
            return "\(code): over 2^60"
        default:
            return code
        }
    }
}

extension HeadGenerator {
    /// A chunked body: chunks with sizes (hex, any case, leading zeros), extensions, data and
    /// CRLFs, the last chunk, trailers, the final CRLF; malformed in one place or another when
    /// noisy, then sometimes mutated byte by byte.
    mutating func chunkedBody() -> [UInt8] {
        noisy = chance(50)
        var out: [UInt8] = []
        for _ in 0..<int(0...3) {
            let size = pick([1, 2, 5, 10, 16, 31, 255])
            var sizeText = String(size, radix: 16, uppercase: chance(50))
            if chance(10) { sizeText = "00" + sizeText }
            if odd(10) { sizeText = pick(["", "-1", "0x5", "+5", "5 ", " 5", "g", "ffffffffffffffffff", "1000000000000000", "fffffffffffffff"]) }
            out += Array(sizeText.utf8)
            out += chunkExtension()
            out += odd(5) ? pick([[0x0A], [0x0D], [0x0D, 0x0D, 0x0A]]) : [0x0D, 0x0A]
            let dataCount = odd(5) ? size + pick([-1, 1, 3]) : size
            out += (0..<max(0, dataCount)).map { _ in pick(Self.valueBytes) }
            out += odd(5) ? pick([[], [0x0A], [0x0D], [0x20, 0x0D, 0x0A]]) : [0x0D, 0x0A]
        }
        out += Array((chance(10) ? "000" : "0").utf8)
        out += chunkExtension()
        out += odd(3) ? [0x0A] : [0x0D, 0x0A]
        for _ in 0..<(chance(80) ? 0 : int(1...3)) {
            out += name()
            out += separator()
            out += value(for: [])
            out += lineEnd()
        }
        out += odd(3) ? pick([[], [0x0A], [0x0D], [0x20, 0x0D, 0x0A]]) : [0x0D, 0x0A]
        if chance(25) { out = mutate(out) }
        return out
    }

    mutating func chunkExtension() -> [UInt8] {
        guard chance(20) else { return [] }
        if odd(30) {
            return Array(pick([";", "; a=b", ";a =b", ";a= b", ";a=", ";=b", ";a=\"x", ";a=\"x\u{01}\"", ";a=b;", ";a b", ";a=\"q\\\"\"", ";\u{7F}"]).utf8)
        }
        return Array(pick([";a", ";a=b", ";name=\"quoted value\"", ";a=1;b=2", ";x-y_z=tok~en"]).utf8)
    }
}
