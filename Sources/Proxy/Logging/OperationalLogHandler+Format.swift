import CLI
import Logging

/// The sidecar's operational log is the shared one (CLI's `OperationalLogHandler`, the control
/// plane writes the same fields); `--log-format` also picks the access log's format, hence a Bool.
extension OperationalLogHandler {
    init(label: String, json: Bool, logLevel: Logger.Level) {
        self.init(label: label, format: json ? .json : .text, logLevel: logLevel)
    }
}
