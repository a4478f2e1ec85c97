import ArgumentParser
import Core

/// `tollgate-proxy schema`: the JSON Schema of policy files, for editors and CI linters
/// (spec/policy.md "Schema"); `--tests`: that of policy test files. The repository keeps the same
/// texts under schema/.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema (2020-12) of policy files (or, with --tests, of policy test files).",
        discussion: "YAML language servers read it through a first-line modeline: # yaml-language-server: $schema=PATH-OR-URL")

    @Flag(help: "Print the schema of `tollgate-proxy test` files instead.")
    var tests = false

    func run() {
        print(tests ? PolicySchema.testFileJSON : PolicySchema.json, terminator: "")
    }
}
