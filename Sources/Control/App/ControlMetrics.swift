import Synchronization

/// Counters for `/metrics` in the Prometheus text format. The control plane is not the sidecar's
/// hot path: one mutex around a dictionary is plenty.
final class ControlMetrics: Sendable {
    private struct Series: Hashable {
        let name: String
        let labels: String
    }

    private static let help: [String: String] = [
        "tollgate_control_http_requests_total": "HTTP requests answered, by route template, method and status.",
        "tollgate_control_tokens_issued_total": "Access tokens issued, by grant type.",
        "tollgate_control_token_errors_total": "Token requests refused, by RFC 6749 error code.",
        "tollgate_control_introspections_total": "Introspection answers, by whether the token was active.",
        "tollgate_control_refresh_reuse_total": "Refresh tokens used twice (the family was revoked).",
    ]

    private let counters = Mutex<[Series: Int]>([:])

    func increment(_ name: String, _ labels: [(String, String)]) {
        let rendered = labels.map { "\($0.0)=\"\(Self.escaped($0.1))\"" }.joined(separator: ",")
        counters.withLock { $0[Series(name: name, labels: rendered), default: 0] += 1 }
    }

    func render(extra: [(String, String, Double)]) -> String {
        let snapshot = counters.withLock { $0 }
        var output = ""
        for name in Self.help.keys.sorted() {
            output += "# HELP \(name) \(Self.help[name] ?? "")\n# TYPE \(name) counter\n"
            for (series, value) in snapshot.filter({ $0.key.name == name }).sorted(by: { $0.key.labels < $1.key.labels }) {
                output += series.labels.isEmpty ? "\(name) \(value)\n" : "\(name){\(series.labels)} \(value)\n"
            }
        }
        for (name, help, value) in extra {
            output += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n\(name) \(value)\n"
        }
        return output
    }

    private static func escaped(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) else {
            return value
        }
        var output = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": output += "\\\\"
            case "\"": output += "\\\""
            case "\n": output += "\\n"
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output
    }
}
