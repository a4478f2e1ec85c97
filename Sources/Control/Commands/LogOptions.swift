import ArgumentParser
import CLI
import Logging

/// `--log-format` and `--log-level`: the operational log both binaries write (CLI's
/// `OperationalLogHandler`), on standard error.
struct LogOptions: ParsableArguments {
    @Option(help: "Log format: json or text.") var logFormat = "json"
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    func logger() throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard let format = OperationalLogHandler.Format(rawValue: logFormat) else {
            throw ValidationError("--log-format must be json or text")
        }
        return Logger(label: "tollgate-control") { label in OperationalLogHandler(label: label, format: format, logLevel: level) }
    }
}
