import ArgumentParser
import Core

/// `tollgate-proxy schema`: the JSON Schema of policy files, for editors and CI linters
/// (spec/policy.md "Schema"). The repository keeps the same text in schema/policy-v1.schema.json.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema (2020-12) of policy files.",
        discussion: "YAML language servers read it through a first-line modeline: # yaml-language-server: $schema=PATH-OR-URL")

    func run() {
        print(PolicySchema.json, terminator: "")
    }
}
