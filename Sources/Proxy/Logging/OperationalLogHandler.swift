import Foundation
import Logging
import NIOConcurrencyHelpers

/// Operational logs (start-up, reloads, shutdown) on stderr, as JSON or text lines; access logs go
/// to stdout separately. Never used on the request path.
struct OperationalLogHandler: LogHandler {
    private static let lock = NIOLock()

    let label: String
    let json: Bool
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let time = AccessLog.timestamp(WallClock.now())
        var line: String
        if json {
            var object: [String: String] = ["time": time, "level": event.level.rawValue, "message": "\(event.message)", "logger": label]
            for (key, value) in merged { object[key] = "\(value)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            line = String(decoding: data, as: UTF8.self)
        } else {
            line = "\(time) \(event.level.rawValue) \(event.message)"
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        }
        line += "\n"
        Self.lock.withLock { FileHandle.standardError.write(Data(line.utf8)) }
    }
}
