import Foundation

/// The JWT conformance cases of Tests/Fixtures/jwt, made by Tests/Fixtures/generate_jwt.py with
/// pyca/cryptography and joserfc (an implementation independent of Tollgate's).
public enum JWTConformance {
    public struct Case: Sendable, CustomStringConvertible {
        public let name: String
        public let method: String
        public let path: String
        /// The raw `Authorization` value; nil sends none.
        public let authorization: String?
        public let extraHeaders: [(String, String)]
        public let status: Int
        /// `invalid_token` or `insufficient_scope` for refusals.
        public let error: String?
        public let upstreamHeaders: [String: String]
        public let absentUpstreamHeaders: [String]

        public var description: String { name }

        /// The token of a `Bearer` header, as the sidecar would read it.
        public var bearerToken: String? {
            guard let authorization, authorization.lowercased().hasPrefix("bearer ") else { return nil }
            let token = authorization.dropFirst(7).trimmingCharacters(in: .whitespaces)
            return token.isEmpty ? nil : token
        }
    }

    public static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/jwt", isDirectory: true)
    public static let policyDirectory = directory.appendingPathComponent("policies", isDirectory: true)

    /// `env` of cases.json: what the sidecar's environment needs (the HMAC secret).
    public static let environment: [String: String] = {
        (root()["env"] as? [String: String]) ?? [:]
    }()

    public static let cases: [Case] = {
        ((root()["cases"] as? [[String: Any]]) ?? []).map { entry in
            let expect = entry["expect"] as? [String: Any] ?? [:]
            return Case(
                name: entry["name"] as? String ?? "?",
                method: entry["method"] as? String ?? "GET",
                path: entry["path"] as? String ?? "/",
                authorization: entry["authorization"] as? String,
                extraHeaders: ((entry["extra_headers"] as? [String: String]) ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                status: expect["status"] as? Int ?? 0,
                error: expect["error"] as? String,
                upstreamHeaders: expect["upstream_headers"] as? [String: String] ?? [:],
                absentUpstreamHeaders: expect["absent_upstream_headers"] as? [String] ?? [])
        }
    }()

    /// Every file of the conformance policy set (YAML and keys), by relative path.
    public static func policyFiles() throws -> [String: String] {
        var files: [String: String] = [:]
        let base = policyDirectory.standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: base) else { return files }
        for case let relative as String in walker {
            var isDirectory: ObjCBool = false
            let full = base + "/" + relative
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            files[relative] = try String(contentsOfFile: full, encoding: .utf8)
        }
        return files
    }

    private static func root() -> [String: Any] {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("cases.json")),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        return object
    }
}
