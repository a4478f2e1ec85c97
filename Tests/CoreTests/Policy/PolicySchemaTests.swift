import Foundation
import TestSupport
import Testing

@testable import Core

/// The JSON Schema against the validator, checked by an implementation we did not write (Python
/// `jsonschema`, Tests/Fixtures/check_policy_schema.py): the example policies and every valid fixture
/// validate; every structurally invalid fixture of the validator's tests is refused by the schema too;
/// and what only `validate` can know (names across files, regex compilation, key files) passes the
/// schema, so the line between the two is where the docs say it is.
@Suite("The policy JSON Schema agrees with the validator")
struct PolicySchemaTests {
    /// Fixtures the validator refuses for a reason a schema can state, each file named with whether
    /// the schema must refuse it (files whose only problem is across files may pass).
    static let structurallyInvalid: [(name: String, files: [String: String], refused: Set<String>?)] = [
        ("unknown keys", PolicyValidationTests.unknownKeysFiles, nil),
        ("wrong types", PolicyValidationTests.wrongTypesFiles, nil),
        ("bad durations", PolicyValidationTests.badDurationsFiles, nil),
        ("bad rates", PolicyValidationTests.badRatesFiles, nil),
        ("a duplicate YAML key", PolicyValidationTests.duplicateYAMLKeyFiles, nil),
        ("match kinds", PolicyValidationTests.matchKindsFiles, nil),
        ("bad algorithms", PolicyValidationTests.badAlgorithmsFiles, nil),
        ("issuer key sources", PolicyValidationTests.issuerKeySourcesFiles, nil),
        ("YAML syntax", PolicyValidationTests.yamlSyntaxFiles, nil),
        ("versions and empty files", PolicyValidationTests.versionsAndUnreadableFilesFiles, nil),
        ("invalid values", PolicyValidationTests.invalidValuesFiles, nil),
        ("auth is required", PolicyCrossChecksTests.authIsRequiredFiles, nil),
        ("every error at once", PolicyCrossChecksTests.everyErrorAtOnceFiles, nil),
        ("reserved forward headers", PolicyCrossChecksTests.reservedForwardHeadersFiles, nil),
        ("shadow modes", PolicyValidationTests.badModesFiles, nil),
    ]

    /// Fixtures the validator refuses for reasons beyond one file's structure: the schema accepts them.
    static let validOnlyStructurally: [(name: String, files: [String: String])] = [
        ("duplicate names across files", PolicyValidationTests.duplicateNamesFiles),
        ("unknown references", PolicyValidationTests.unknownReferencesFiles),
        ("patterns that do not compile", PolicyValidationTests.badPatternsFiles),
        ("key files", PolicyValidationTests.keyFilesFiles),
        ("services that disagree", PolicyValidationTests.serviceMismatchFiles),
        ("no routes anywhere", PolicyValidationTests.noRoutesFiles),
        ("a token-keyed limit on a public route", PolicyCrossChecksTests.tokenKeyedLimitOnPublicRouteFiles),
    ]

    /// Fixtures the validator accepts.
    static let valid: [(name: String, files: [String: String])] = [
        ("the snapshot fixture", PolicySnapshotTests.files),
        ("the ConfigMap fixture", PolicySnapshotTests.configMapLayoutFiles),
        ("the route matcher fixture", ["a.yaml": RouteMatcherTests.policy]),
        ("shadow routes and limits", PolicySnapshotTests.shadowFiles),
    ]

    @Test("the schema in the repository is the one `tollgate-proxy schema` prints, and is valid JSON")
    func repositoryCopy() throws {
        let file = try String(contentsOf: Fixtures.repository.appendingPathComponent(PolicySchema.repositoryPath), encoding: .utf8)
        #expect(file == PolicySchema.json)
        let object = try JSONSerialization.jsonObject(with: Data(PolicySchema.json.utf8)) as? [String: Any]
        #expect(object?["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
    }

    @Test("the test-file schema: the repository copy is the printed one; the example tests validate; an invalid file is refused")
    func testFileSchema() throws {
        let path = Fixtures.repository.appendingPathComponent(PolicySchema.testFileRepositoryPath).path
        #expect(try String(contentsOfFile: path, encoding: .utf8) == PolicySchema.testFileJSON)
        let directory = Fixtures.repository.appendingPathComponent("policy-tests")
        let examples = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(examples.count >= 1)
        let fixture = try PolicyFixture(["valid.yaml": PolicyTestFileTests.validFile, "invalid.yaml": PolicyTestFileTests.invalidFile])
        let files = examples.map { directory.appendingPathComponent($0).path } + fixture.yamlFiles
        let verdicts = try SchemaCheck.run(files, schema: path)
        for example in examples {
            let file = directory.appendingPathComponent(example).path
            #expect(verdicts[file]?.errors == [], "\(example)")
            let first = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").first.map(String.init)
            #expect(first == "# yaml-language-server: $schema=../\(PolicySchema.testFileRepositoryPath)", "\(example)")
        }
        #expect(verdicts[fixture.path + "/valid.yaml"]?.errors == [])
        #expect(verdicts[fixture.path + "/invalid.yaml"]?.valid == false)
    }

    @Test("every example policy validates and names the schema in its first line")
    func examples() throws {
        let directory = Fixtures.repository.appendingPathComponent("policies")
        let files = try FileManager.default.subpathsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        #expect(files.count >= 3)
        let verdicts = try SchemaCheck.run(files.map { directory.appendingPathComponent($0).path })
        for file in files {
            let path = directory.appendingPathComponent(file).path
            #expect(verdicts[path]?.errors == [], "\(file)")
            let first = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").first.map(String.init)
            let depth = file.split(separator: "/").count
            let relative = String(repeating: "../", count: depth) + PolicySchema.repositoryPath
            #expect(first == "# yaml-language-server: $schema=\(relative)", "\(file)")
        }
    }

    /// (The validator's own tests load these; the ConfigMap one only through its symlinks.)
    @Test("every valid fixture validates")
    func validFixtures() throws {
        let fixtures = try Self.valid.map { ($0.name, try PolicyFixture($0.files)) }
        let verdicts = try SchemaCheck.run(fixtures.flatMap { $0.1.yamlFiles })
        for (name, fixture) in fixtures {
            for file in fixture.yamlFiles { #expect(verdicts[file]?.errors == [], "\(name): \(file)") }
        }
    }

    @Test("every structurally invalid fixture is refused by the schema too")
    func structurallyInvalidFixtures() throws {
        let fixtures = try Self.structurallyInvalid.map { ($0.name, try PolicyFixture($0.files), $0.refused) }
        let verdicts = try SchemaCheck.run(fixtures.flatMap { $0.1.yamlFiles })
        for (name, fixture, refused) in fixtures {
            #expect(!fixture.errors().isEmpty, "the validator refuses \(name)")
            for file in fixture.yamlFiles where refused?.contains(fixture.relative(file)) ?? true {
                #expect(verdicts[file]?.valid == false, "the schema must refuse \(name): \(fixture.relative(file))")
            }
        }
    }

    @Test("what only the validator can know passes the schema")
    func semanticOnlyFixtures() throws {
        let fixtures = try Self.validOnlyStructurally.map { ($0.name, try PolicyFixture($0.files)) }
        let verdicts = try SchemaCheck.run(fixtures.flatMap { $0.1.yamlFiles })
        for (name, fixture) in fixtures {
            #expect(!fixture.errors().isEmpty, "the validator refuses \(name)")
            for file in fixture.yamlFiles { #expect(verdicts[file]?.errors == [], "\(name): \(fixture.relative(file))") }
        }
    }
}

/// Runs Tests/Fixtures/check_policy_schema.py over files: one Python process for many files.
enum SchemaCheck {
    struct Verdict: Decodable {
        let file: String
        let valid: Bool
        let errors: [String]
    }

    static let script = Fixtures.root.appendingPathComponent("check_policy_schema.py")

    static func run(_ files: [String], schema: String = Fixtures.repository.appendingPathComponent(PolicySchema.repositoryPath).path) throws -> [String: Verdict] {
        let result = try BuiltBinary.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script.path, schema] + files)
        guard result.status == 0 else { throw Failed(output: result.stdout + result.stderr) }
        var verdicts: [String: Verdict] = [:]
        for line in result.stdout.split(separator: "\n") {
            let verdict = try JSONDecoder().decode(Verdict.self, from: Data(line.utf8))
            verdicts[verdict.file] = verdict
        }
        return verdicts
    }

    struct Failed: Error, CustomStringConvertible {
        let output: String
        var description: String { "check_policy_schema.py failed: \(output)" }
    }
}

extension PolicyFixture {
    /// Absolute paths of the fixture's YAML files.
    var yamlFiles: [String] {
        let paths = (try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? []
        return paths.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { path + "/" + $0 }
    }

    func relative(_ file: String) -> String { String(file.dropFirst(path.count + 1)) }
}
