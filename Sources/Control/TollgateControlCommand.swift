import ArgumentParser
import CLI
import Core

/// `tollgate-control`: the control plane. `serve`, `bootstrap`, `migrate` and `keys rotate` arrive
/// with the control-plane issue; until then it prints its usage and version.
struct TollgateControlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-control",
        abstract: "Tollgate's control plane: OAuth2/OIDC provider, flags, config and metrics for the sidecars.",
        discussion: "serve, bootstrap, migrate and keys rotate are not built yet.",
        version: TollgateVersion.current,
        subcommands: [VersionCommand.self])
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("tollgate-control \(TollgateVersion.current)")
    }
}
