import Core
import Foundation
import Logging

/// One JSON object per line on standard error: `time`, `level`, `message`, then the metadata.
/// Secrets never reach a log call (tokens, client secrets and passwords are not logged).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var members: [(String, JSONOutput)] = [
            ("time", .string(Timestamp.rfc3339(Clock.nowMilliseconds()))), ("level", .string(event.level.rawValue)),
            ("message", .string(event.message.description)),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            members.append((key, .string(value.description)))
        }
        FileHandle.standardError.write(Data((JSONOutput.object(members).serialized() + "\n").utf8))
    }
}
