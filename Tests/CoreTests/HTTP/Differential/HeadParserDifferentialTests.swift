import Foundation
import NIOCore
import Testing

@testable import Core

/// The head parser against SwiftNIO's llhttp decoders: generated and mutated heads must get the
/// same accept or refuse and, when accepted, the same method, target, version, fields and body
/// framing. Where the parser refuses what llhttp accepts, the refusal must be one of the
/// deliberate stricter classes listed in docs/http-parser.md (`Differential.stricterClasses`).
///
/// `swift test` runs a bounded slice; the full run is
/// `TOLLGATE_DIFF_CASES=1000000 swift test --filter HeadParserDifferential` (see docs/http-parser.md).
@Suite("Head parser differential against llhttp")
struct HeadParserDifferentialTests {
    static var cases: Int { Int(ProcessInfo.processInfo.environment["TOLLGATE_DIFF_CASES"] ?? "") ?? 20_000 }
    static var seed: UInt64 { UInt64(ProcessInfo.processInfo.environment["TOLLGATE_DIFF_SEED"] ?? "") ?? 1 }

    @Test("request heads: the parser and llhttp agree, or the parser is deliberately stricter")
    func requests() throws {
        let tally = try Differential.run(.request, cases: Self.cases * 3 / 4, seed: Self.seed)
        tally.print(label: "requests")
        #expect(tally.failures.isEmpty, "\(tally.failureReport)")
        #expect(tally.count(prefix: "agree: accepted") > tally.total / 5, "the generator must reach accepted heads often")
        #expect(tally.counts["agree: accepted, chunked", default: 0] > tally.total / 100, "chunked ones too")
        #expect(tally.counts["agree: accepted, length", default: 0] > tally.total / 100, "and ones with a length")
        #expect(tally.counts["agree: refused", default: 0] > tally.total / 5, "and refused ones")
    }

    @Test("response heads: the parser and llhttp agree, or the parser is deliberately stricter")
    func responses() throws {
        let tally = try Differential.run(.response, cases: Self.cases / 4, seed: Self.seed &+ 1)
        tally.print(label: "responses")
        #expect(tally.failures.isEmpty, "\(tally.failureReport)")
        #expect(tally.count(prefix: "agree: accepted") > tally.total / 5)
        #expect(tally.counts["agree: accepted, until close", default: 0] > tally.total / 100)
    }

    @Test("every corpus entry is compared as it is")
    func corpus() throws {
        var tally = Differential.Tally()
        for text in HeadGenerator.requestCorpus { try Differential.compare(Array(text.utf8), .request, method: .GET, into: &tally) }
        for text in HeadGenerator.responseCorpus {
            for method in [HTTPMethodName.GET, .HEAD] { try Differential.compare(Array(text.utf8), .response, method: method, into: &tally) }
        }
        tally.print(label: "corpus")
        #expect(tally.failures.isEmpty, "\(tally.failureReport)")
    }
}

enum Differential {
    /// Where the parser refuses a head llhttp accepts, on purpose. Each is explained in
    /// docs/http-parser.md, "Deliberately stricter than llhttp".
    static let stricterClasses: Set<String> = [
        "missing-host", "repeated-host", "bad-host",
        "bad-transfer-encoding: not exactly chunked", "transfer-encoding-in-http-1.0",
        "bad-content-length: over 18 digits", "bad-content-length: whitespace after the digits",
        "connect-not-supported",
        "bad-target: non-ASCII byte",
        "empty-line-before-head",
        "bad-status-line: not three digits",
        "bad-status-line: no space after status", "bad-status-line: status under 100",
        // llhttp ignores an empty Transfer-Encoding and frames by Content-Length; a message that
        // has both fields is refused whatever their values.
        "content-length-with-transfer-encoding",
        "bad-transfer-encoding: response, chunked not last",
        "bad-header-value: DEL",
        "bad-target: extra space", "bad-version: extra space", "bad-target: not origin, absolute or asterisk form",
        "bad-status-line: control byte in reason",
        "not HTTP (RTSP, ICE)",
    ]

    struct Tally {
        var total = 0
        var counts: [String: Int] = [:]
        var examples: [String: String] = [:]
        var failures: [String] = []
        var seconds = 0.0

        mutating func count(_ key: String, _ bytes: [UInt8], detail: String = "") {
            total += 1
            counts[key, default: 0] += 1
            let example = String(decoding: bytes.prefix(400), as: UTF8.self).debugDescription + (detail.isEmpty ? "" : " — \(detail)")
            if examples[key] == nil { examples[key] = example }
            if key.hasPrefix("FAIL"), counts[key]! <= 3 { failures.append("\(key): \(example)") }
        }

        func count(prefix: String) -> Int { counts.filter { $0.key.hasPrefix(prefix) }.map(\.value).reduce(0, +) }

        var failureReport: String { failures.joined(separator: "\n") }

        func print(label: String) {
            var lines = ["differential \(label): \(total) cases in \(String(format: "%.1f", seconds)) s"]
            for (key, count) in counts.sorted(by: { $0.key < $1.key }) {
                lines.append("  \(key): \(count)   e.g. \(examples[key] ?? "")")
            }
            Swift.print(lines.joined(separator: "\n"))
            if let path = ProcessInfo.processInfo.environment["TOLLGATE_DIFF_REPORT"] {
                let text = lines.joined(separator: "\n") + "\n"
                if let handle = FileHandle(forWritingAtPath: path) {
                    handle.seekToEndOfFile()
                    handle.write(Data(text.utf8))
                    handle.closeFile()
                } else {
                    _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
                }
            }
        }
    }

    static func run(_ kind: HTTPHead.Kind, cases: Int, seed: UInt64) throws -> Tally {
        var generator = HeadGenerator(seed: seed)
        var tally = Tally()
        let started = Date()
        for _ in 0..<cases {
            let bytes = generator.next(request: kind == .request)
            let method: HTTPMethodName = kind == .request ? .GET : generator.pick([.GET, .GET, .HEAD, .POST])
            try compare(bytes, kind, method: method, into: &tally)
        }
        tally.seconds = Date().timeIntervalSince(started)
        return tally
    }

    /// Compares one input and counts it under its class.
    static func compare(_ input: [UInt8], _ kind: HTTPHead.Kind, method: HTTPMethodName, into tally: inout Tally) throws {
        var bytes = input
        var ours = parse(bytes, kind, method: method)
        if case .success(nil) = ours {
            // Unfinished: finish it, so both parsers judge a whole head.
            bytes += [0x0D, 0x0A, 0x0D, 0x0A]
            ours = parse(bytes, kind, method: method)
        }
        switch ours {
        case .success(nil):
            tally.count("incomplete", bytes)
        case let .failure(error):
            let oracle = try NIOOracle(kind, requestMethod: method)
            defer { oracle.finish() }
            let fed = oracle.feed(bytes)
            if let theirs = fed.heads.first {
                let stricter = stricterClass(error, bytes, kind)
                if stricterClasses.contains(stricter) {
                    tally.count("stricter: \(stricter)", bytes)
                } else {
                    tally.count("FAIL: we refuse (\(stricter)), llhttp accepts", bytes, detail: "\(error) vs \(theirs)")
                }
            } else {
                tally.count("agree: refused", bytes)
            }
        case let .success(head?):
            let headBytes = Array(bytes[0..<head.length])
            let oracle = try NIOOracle(kind, requestMethod: method)
            defer { oracle.finish() }
            let fed = oracle.feed(headBytes)
            guard fed.error == nil, let theirs = fed.heads.first else {
                tally.count("FAIL: we accept, llhttp refuses", bytes, detail: "\(fed.error.map { String(reflecting: $0) } ?? "waiting")")
                return
            }
            let mine = describe(head, headBytes)
            guard mine == theirs else {
                var difference = "ours \(mine) vs llhttp \(theirs)"
                if mine.fields.count == theirs.fields.count, let at = Array(zip(mine.fields, theirs.fields)).firstIndex(where: { $0.0 != $0.1 }) {
                    difference = "field \(at): ours \(mine.fields[at]) vs llhttp \(theirs.fields[at])"
                }
                tally.count("FAIL: heads differ", bytes, detail: difference)
                return
            }
            if let problem = framingProblem(head, oracle: oracle, afterHead: fed) {
                tally.count("FAIL: framing differs", bytes, detail: problem)
                return
            }
            tally.count("agree: accepted, \(framingName(head.framing))", bytes)
        }
    }

    static func framingName(_ framing: HTTPBodyFraming) -> String {
        switch framing {
        case .none: "no body"
        case .length: "length"
        case .chunked: "chunked"
        case .untilClose: "until close"
        }
    }

    static func parse(_ bytes: [UInt8], _ kind: HTTPHead.Kind, method: HTTPMethodName) -> Result<HTTPHead?, HTTPHeadError> {
        var parser = HTTPHeadParser(kind, configuration: .init(maxHeadBytes: 1 << 20, maxFieldCount: 10_000, maxTargetBytes: 1 << 20))
        let buffer = ByteBuffer(bytes: bytes)
        do {
            return .success(kind == .request ? try parser.parseRequest(buffer) : try parser.parseResponse(buffer, to: method))
        } catch {
            return .failure(error)
        }
    }

    static func describe(_ head: HTTPHead, _ bytes: [UInt8]) -> NIOOracle.Head {
        func text(_ span: HTTPHead.Span) -> String { String(decoding: bytes[span.range], as: UTF8.self) }
        return NIOOracle.Head(
            method: head.kind == .request ? text(head.methodSpan) : "",
            target: head.kind == .request ? text(head.target) : "",
            status: head.status, major: 1, minor: head.minorVersion,
            fields: head.fields.map { NIOOracle.Pair(name: text($0.name), value: text($0.value)) })
    }

    /// Feeds llhttp the body our framing predicts and checks it reads it so; nil when it does.
    static func framingProblem(_ head: HTTPHead, oracle: NIOOracle, afterHead: NIOOracle.Fed) -> String? {
        let informational = head.kind == .response && head.status < 200 && head.status != 101
        switch head.framing {
        case .none:
            let expectedEnds = informational ? 0 : 1
            return afterHead.ends == expectedEnds ? nil : "ours: no body; llhttp ended the message \(afterHead.ends) times after the head"
        case let .length(length):
            guard afterHead.ends == 0 else { return "ours: length \(length); llhttp ended the message at the head" }
            let fed = oracle.feed(Array(repeating: UInt8(ascii: "x"), count: min(length, 64)))
            let expectedEnds = length <= 64 ? 1 : 0
            guard fed.error == nil, fed.bodyBytes == min(length, 64), fed.ends == expectedEnds else {
                return "ours: length \(length); llhttp read \(fed.bodyBytes) body bytes, \(fed.ends) ends, error \(String(describing: fed.error))"
            }
            return nil
        case .chunked:
            guard afterHead.ends == 0 else { return "ours: chunked; llhttp ended the message at the head" }
            let fed = oracle.feed(Array("5\r\nhello\r\n0\r\n\r\n".utf8))
            guard fed.error == nil, fed.bodyBytes == 5, fed.ends == 1 else {
                return "ours: chunked; llhttp read \(fed.bodyBytes) body bytes, \(fed.ends) ends, error \(String(describing: fed.error))"
            }
            return nil
        case .untilClose:
            guard afterHead.ends == 0 else { return "ours: until close; llhttp ended the message at the head" }
            let probe = Array("0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n".utf8)
            let fed = oracle.feed(probe)
            guard fed.error == nil, fed.bodyBytes == probe.count, fed.ends == 0 else {
                return "ours: until close; llhttp read \(fed.bodyBytes) body bytes, \(fed.ends) ends, error \(String(describing: fed.error))"
            }
            let closed = oracle.close()
            guard closed.ends == 1 else { return "ours: until close; llhttp did not end the message at the close (\(closed.ends))" }
            return nil
        }
    }

    /// The class of a refusal, fine enough that a documented stricter class cannot hide a bug:
    /// the code, and for codes that cover several shapes, which shape.
    static func stricterClass(_ error: HTTPHeadError, _ bytes: [UInt8], _ kind: HTTPHead.Kind) -> String {
        let code = error.code.rawValue
        let byte = error.offset < bytes.count ? bytes[error.offset] : 0
        let firstLine = String(decoding: bytes.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        if firstLine.contains("RTSP/") || firstLine.contains("ICE/") { return "not HTTP (RTSP, ICE)" }
        // A lone LF first is refused as a bare LF before the start line is looked at.
        if error.offset == 0, let first = bytes.first, first == 0x0A || first == 0x0D { return "empty-line-before-head" }
        switch error.code {
        case .badTarget where byte == 0x20:
            return "\(code): extra space"
        case .badTarget where !(firstLine.split(separator: " ", omittingEmptySubsequences: false).dropFirst().first?.hasPrefix("/") ?? true):
            return "\(code): not origin, absolute or asterisk form"
        case .badTarget:
            return byte >= 0x80 ? "\(code): non-ASCII byte" : byte == 0x20 ? "\(code): extra space" : "\(code): byte \(byte)"
        case .badVersion where byte == 0x20 && error.offset > 0 && bytes[error.offset - 1] == 0x20:
            return "\(code): extra space"
        case .badContentLength:
            let digits = digitsAt(error.offset, bytes)
            if digits > 18 { return "\(code): over 18 digits" }
            let after = error.offset + digits < bytes.count ? bytes[error.offset + digits] : 0
            return digits > 0 && (after == 0x20 || after == 0x09) ? "\(code): whitespace after the digits" : code
        case .badTransferEncoding where kind == .request:
            return "\(code): not exactly chunked"
        case .badTransferEncoding:
            return "\(code): response, chunked not last"
        case .badStatusLine:
            let line = bytes.prefix { $0 != 0x0D && $0 != 0x0A }
            let afterVersion = Array(line.dropFirst(9))
            let digits = afterVersion.prefix { $0 &- 0x30 < 10 }.count
            if afterVersion.first == 0x20 { return code }
            if digits != 3 { return "\(code): not three digits" }
            if afterVersion.first == UInt8(ascii: "0") { return "\(code): status under 100" }
            if afterVersion.count == 3 { return "\(code): no space after status" }
            if byte < 0x20 || byte == 0x7F { return "\(code): control byte in reason" }
            return code
        case .badHeaderValue:
            return error.offset < bytes.count && bytes[error.offset] == 0x7F ? "\(code): DEL" : code
        default:
            return code
        }
    }

    private static func digitsAt(_ offset: Int, _ bytes: [UInt8]) -> Int {
        bytes[min(offset, bytes.count)...].prefix { $0 &- 0x30 < 10 }.count
    }
}
