import CLI
import Foundation
import Logging
import Synchronization
import Testing

@Suite("the operational log both binaries write")
struct OperationalLogTests {
    @Test("JSON: time, level, logger, message, then the metadata by key; escapes; text has the same parts")
    func fields() throws {
        let lines = LinesCollected()
        var logger = Logger(label: "tollgate-control") { label in
            OperationalLogHandler(label: label, format: .json, logLevel: .info) { lines.append($0) }
        }
        logger[metadataKey: "request_id"] = "r1"
        logger.info("said \"hi\"\n", metadata: ["b": "2", "a": "1", "level": "shadowed"])
        logger.debug("below the level")
        let line = try #require(lines.all.first)
        #expect(lines.all.count == 1)
        #expect(line.hasSuffix("}\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["level"] == "info" && object["logger"] == "tollgate-control" && object["message"] == "said \"hi\"\n")
        #expect(object["request_id"] == "r1" && object["a"] == "1" && object["metadata.level"] == "shadowed")
        #expect(object["time"]?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil)
        #expect(line.hasPrefix("{\"time\":"))
        #expect(line.contains(#""message":"said \"hi\"\n","a":"1","b":"2","metadata.level":"shadowed","request_id":"r1"}"#))

        let text = LinesCollected()
        let textLogger = Logger(label: "tollgate-proxy") { label in
            OperationalLogHandler(label: label, format: .text, logLevel: .info) { text.append($0) }
        }
        textLogger.warning("reloaded", metadata: ["policy_hash": "abc"])
        #expect(text.all.first?.wholeMatch(of: /\S+Z warning reloaded policy_hash=abc\n/) != nil, "\(text.all)")
    }
}

private final class LinesCollected: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}
