import Foundation
import Testing

@testable import Core

/// A policy directory written to a fresh temporary folder: real files on disk, as the sidecar reads them.
final class PolicyFixture {
    let directory: URL

    /// `files` maps relative paths (sub-folders allowed) to their text.
    init(_ files: [String: String]) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tollgate-policy-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (path, text) in files {
            try write(path, text)
        }
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    var path: String { directory.path }

    func write(_ relativePath: String, _ text: String) throws {
        try write(relativePath, Data(text.utf8))
    }

    func write(_ relativePath: String, _ data: Data) throws {
        let url = directory.appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }

    /// Copies a key from Tests/Fixtures/keys into the policy directory.
    func copyKey(_ name: String, to relativePath: String) throws {
        try write(relativePath, try Data(contentsOf: Fixtures.keys.appendingPathComponent(name)))
    }

    func load() throws(PolicyValidationError) -> PolicySnapshot {
        try PolicyLoader.load(directory: path)
    }

    /// The diagnostics of an invalid set, with the temporary directory's prefix removed
    /// (`a.yaml:3:5: path: message`). Records a test failure if the set loads.
    func errors(sourceLocation: Testing.SourceLocation = #_sourceLocation) -> [String] {
        do {
            let snapshot = try load()
            Issue.record("expected the policy set to be invalid; it loaded with hash \(snapshot.hash)", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.diagnostics.map { $0.description.replacingOccurrences(of: path + "/", with: "") }
        }
    }

    func codes() -> [PolicyDiagnostic.Code] {
        do {
            _ = try load()
            return []
        } catch {
            return error.diagnostics.map(\.code)
        }
    }
}

enum Fixtures {
    /// Tests/Fixtures, found from this source file so tests run from any working directory.
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures", isDirectory: true)
    static let keys = root.appendingPathComponent("keys", isDirectory: true)
    static let repository = root.deletingLastPathComponent().deletingLastPathComponent()

    static func key(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: keys.appendingPathComponent(name)))
    }
}

/// A minimal valid file body to build error cases on.
let minimalRoute = """
    routes:
      - name: health
        match: { path: /healthz }
        auth: none
    """
