import Foundation
import Testing
import TestSupport

@Suite("tollgate-proxy schema")
struct SchemaCommandTests {
    @Test("prints the JSON Schema the repository keeps for editors, exit 0")
    func printsTheRepositorySchema() throws {
        let result = try BuiltBinary("tollgate-proxy").run(["schema"])
        #expect(result.status == 0)
        let file = try String(
            contentsOf: ValidateCommandTests.repository.appendingPathComponent("schema/policy-v1.schema.json"), encoding: .utf8)
        #expect(result.stdout == file)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
    }

    @Test("--tests prints the schema of policy test files")
    func printsTheTestFileSchema() throws {
        let result = try BuiltBinary("tollgate-proxy").run(["schema", "--tests"])
        #expect(result.status == 0)
        let file = try String(
            contentsOf: ValidateCommandTests.repository.appendingPathComponent("schema/policy-test-v1.schema.json"), encoding: .utf8)
        #expect(result.stdout == file)
    }
}
