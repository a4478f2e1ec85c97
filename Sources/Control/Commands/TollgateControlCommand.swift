import ArgumentParser
import Core

/// `tollgate-control`: the control plane (spec/control.md). Every option also reads
/// `TOLLGATE_<OPTION>` from the environment; a flag on the command line wins. One file per
/// subcommand in this folder; each opens what it needs through `withServices` / `withDatabase`
/// (StorageOptions), which close the database on every path.
struct TollgateControlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-control",
        abstract: "Tollgate's control plane: OAuth2/OIDC provider, flags, config and metrics for the sidecars.",
        version: TollgateVersion.current,
        subcommands: [ServeCommand.self, BootstrapCommand.self, MigrateCommand.self, KeysCommand.self, VersionCommand.self])

    static let environmentPrefix = "TOLLGATE_"
}
