import Foundation
import Testing
import TestSupport

/// `tollgate-proxy validate` as CI scripts use it: exit status, and what goes to which stream.
@Suite("tollgate-proxy validate")
struct ValidateCommandTests {
    let proxy = BuiltBinary("tollgate-proxy")

    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A scratch folder holding `policies/` with the given files.
    func workspace(_ files: [String: String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-cli-\(UUID().uuidString)")
        for (path, text) in files {
            let url = root.appendingPathComponent("policies").appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return root
    }

    @Test("the example policies validate: exit 0 and a one-line summary with the hash")
    func examplePolicies() throws {
        let result = try proxy.run(["validate", "policies"], in: Self.repository)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(line.hasPrefix("policies: valid: 5 files, 7 routes, 5 limits, 3 issuers, 2 flags; hash "))
        #expect(line.split(separator: " ").last?.count == 64)
    }

    @Test("the directory defaults to ./policies")
    func defaultDirectory() throws {
        let root = try workspace(["a.yaml": "version: 1\nroutes:\n  - name: r\n    match: { path: /r }\n    auth: none\n"])
        defer { try? FileManager.default.removeItem(at: root) }
        let result = try proxy.run(["validate"], in: root)
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("./policies: valid: 1 file, 1 route, 0 limits, 0 issuers, 0 flags; hash "))
    }

    @Test("an invalid set: exit 1, every error on stderr as FILE:LINE:COL: PATH: message, nothing on stdout")
    func invalidSet() throws {
        let root = try workspace([
            "a.yaml": "version: 1\nroutes:\n  - name: r\n    match: { path: /r }\n    auth: none\n    limits: [per-usr]\n",
            "b.yaml": "version: 1\nlimits:\n  per-user: { rate: 10/sec, key: [ip] }\n",
        ])
        defer { try? FileManager.default.removeItem(at: root) }
        let result = try proxy.run(["validate", "policies"], in: root)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == """
            policies/a.yaml:6:14: routes[0].limits[0]: unknown limit "per-usr" (did you mean "per-user"?)
            policies/b.yaml:3:21: limits.per-user.rate: invalid rate "10/sec": use N/s, N/m, N/h or N/d with N from 1 to 1000000000 (e.g. 10/s)
            policies: invalid: 2 errors

            """)
    }

    @Test("a directory that does not exist is an invalid set (exit 1), not a crash")
    func missingDirectory() throws {
        let result = try proxy.run(["validate", "/nonexistent/policies"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("/nonexistent/policies: cannot read the policy directory: no such directory\n"))
    }

    @Test("usage errors exit 2", arguments: [["validate", "a", "b"], ["validate", "--bogus"], ["frobnicate"]])
    func usageErrors(arguments: [String]) throws {
        let result = try proxy.run(arguments)
        #expect(result.status == 2)
        #expect(result.stderr.contains("Usage:") || result.stderr.contains("Error:"))
    }

    @Test("help exits 0 and names the subcommands")
    func help() throws {
        let result = try proxy.run(["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("validate") && result.stdout.contains("version"))
    }

    @Test("version prints the release")
    func version() throws {
        let result = try proxy.run(["version"])
        #expect(result.status == 0)
        #expect(result.stdout == "tollgate-proxy 0.1.0\n")
    }
}
