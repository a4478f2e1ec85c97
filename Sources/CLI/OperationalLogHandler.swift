import Foundation
import Logging

/// The operational log of both binaries (start-up, reloads, failures, shutdown): one line per event
/// on standard error, as a JSON object or as text, with the same fields either way and in both
/// binaries, so one log pipeline reads the sidecar and the control plane alike.
///
/// JSON: `{"time":…,"level":…,"logger":…,"message":…}` followed by the metadata, keys sorted;
/// a metadata key that collides with one of those four is written as `metadata.<key>`. Text:
/// `TIME LEVEL MESSAGE key=value …`. Times are UTC with milliseconds (`2026-01-02T03:04:05.678Z`).
///
/// Not for request paths: the sidecar's access log has its own hand-made writer for speed.
/// Secrets never reach a log call (tokens, client secrets and passwords are not logged).
public struct OperationalLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case json, text
    }

    /// Lines from concurrent tasks and threads are written whole, one at a time.
    private static let lock = NSLock()
    private static let reserved: Set<String> = ["time", "level", "logger", "message"]

    public let label: String
    public let format: Format
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    /// Where lines go; standard error unless a test collects them.
    private let write: @Sendable (String) -> Void

    public init(
        label: String, format: Format = .json, logLevel: Logger.Level = .info,
        write: @escaping @Sendable (String) -> Void = OperationalLogHandler.standardError
    ) {
        self.label = label
        self.format = format
        self.logLevel = logLevel
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        write(line(event, time: Date()))
    }

    /// The line for `event` at `time`, newline included.
    func line(_ event: LogEvent, time: Date) -> String {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let timestamp = Self.timestamp(time)
        var line: String
        switch format {
        case .json:
            line = "{\"time\":\(Self.quoted(timestamp)),\"level\":\(Self.quoted(event.level.rawValue)),"
                + "\"logger\":\(Self.quoted(label)),\"message\":\(Self.quoted(event.message.description))"
            let members = merged.map { (Self.reserved.contains($0.key) ? "metadata." + $0.key : $0.key, $0.value.description) }
            for (key, value) in members.sorted(by: { $0.0 < $1.0 }) {
                line += ",\(Self.quoted(key)):\(Self.quoted(value))"
            }
            line += "}"
        case .text:
            line = "\(timestamp) \(event.level.rawValue) \(event.message)"
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        }
        return line + "\n"
    }

    @Sendable public static func standardError(_ line: String) {
        lock.withLock { FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// `2026-01-02T03:04:05.678Z`.
    static func timestamp(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        var time = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        let millis = min(999, Int((seconds - Double(time)) * 1000))
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
            + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2)).\(pad(millis, 3))Z"
    }

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as is.
    static func quoted(_ text: String) -> String {
        var output = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output + "\""
    }
}
