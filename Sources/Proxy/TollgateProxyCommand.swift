import ArgumentParser
import Core

/// `tollgate-proxy`: the sidecar. See docs and ../shared/spec/proxy.md for the contract. One file
/// per subcommand (`RunCommand`, `ValidateCommand`, `VersionCommand` here; the policy tools in
/// PolicyTools/); the root is async so `main.swift` awaits whichever runs.
struct TollgateProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-proxy",
        abstract: "Rate-limit and auth sidecar: routes, JWT, flags and token buckets in front of your service.",
        version: TollgateVersion.current,
        subcommands: [RunCommand.self, ValidateCommand.self, TestCommand.self, ExplainCommand.self, SchemaCommand.self, VersionCommand.self])
}
