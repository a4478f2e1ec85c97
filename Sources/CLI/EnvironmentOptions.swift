/// `--some-option` falls back to `TOLLGATE_SOME_OPTION` from the environment: what the spec
/// promises and what a container operator expects. A value on the command line always wins.
///
/// Only the options of the subcommand being run are read, taken from that subcommand's own
/// declaration, so one environment can serve every subcommand: `TOLLGATE_LISTEN` set for `serve`
/// does not break `migrate`, which has no `--listen`.
///
/// The declaration is read from ArgumentParser's own model of the command (the tool description
/// `--experimental-dump-help` prints, built from the property wrappers), not from help text: a
/// custom name (`@Option(name: .customLong("as"))`), an option group or a reworded help line cannot
/// make the two disagree.
import ArgumentParser
import Foundation

public enum EnvironmentOptions {
    /// An option a command declares: `--name VALUE`, or `--name` alone for a flag.
    public struct Declared: Equatable, Sendable {
        public let name: String
        public let takesValue: Bool

        public init(name: String, takesValue: Bool) {
            self.name = name
            self.takesValue = takesValue
        }
    }

    /// `arguments` (without the program name) with `--name value` appended for each option of the
    /// subcommand they name that they do not set and the environment does (`PREFIX_NAME`, upper
    /// case, `-` as `_`). A flag is added when its variable is `1`, `true`, `yes` or `on`.
    public static func apply(
        to arguments: [String], root: any ParsableCommand.Type, prefix: String, environment: [String: String]
    ) -> [String] {
        let command = subcommand(named: arguments, root: root)
        if command == root && !root.configuration.subcommands.isEmpty { return arguments }
        var result = arguments
        for option in declared(by: command) {
            let flag = "--\(option.name)"
            let present = arguments.contains { $0 == flag || $0.hasPrefix(flag + "=") }
            guard !present, let value = environment[variable(option.name, prefix: prefix)] else { continue }
            if option.takesValue {
                result.append(contentsOf: [flag, value])
            } else if ["1", "true", "yes", "on"].contains(value.lowercased()) {
                result.append(flag)
            }
        }
        return result
    }

    /// The environment variable of an option: `token-ttl` → `TOLLGATE_TOKEN_TTL`.
    public static func variable(_ option: String, prefix: String) -> String {
        prefix + String(option.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// The deepest subcommand the leading arguments name (`keys rotate` → `Rotate`).
    public static func subcommand(named arguments: [String], root: any ParsableCommand.Type) -> any ParsableCommand.Type {
        var command = root
        for argument in arguments {
            guard let next = command.configuration.subcommands.first(where: { $0._commandName == argument }) else { break }
            command = next
        }
        return command
    }

    /// The long options and flags `command` declares (its option groups included), in declaration
    /// order, without hidden ones, `--help` and `--version`.
    public static func declared(by command: any ParsableCommand.Type) -> [Declared] {
        guard let description = try? JSONDecoder().decode(ToolDescription.self, from: Data(command._dumpHelp().utf8)) else {
            // The description is ArgumentParser's own encoding of the command: it always decodes.
            preconditionFailure("ArgumentParser's description of \(command._commandName) does not decode")
        }
        var result: [Declared] = []
        for argument in description.command.arguments ?? [] where argument.shouldDisplay && argument.kind != "positional" {
            for name in argument.names ?? [] where name.kind == "long" && name.name != "help" && name.name != "version" {
                let option = Declared(name: name.name, takesValue: argument.kind == "option")
                if !result.contains(option) { result.append(option) }
            }
        }
        return result
    }

    /// The part of ArgumentParser's tool description (`ToolInfoV0`) read here.
    private struct ToolDescription: Decodable {
        struct Command: Decodable {
            var arguments: [Argument]?
        }

        struct Argument: Decodable {
            struct Name: Decodable {
                /// `long`, `short` or `longWithSingleDash`.
                var kind: String
                var name: String
            }

            /// `positional`, `option` or `flag`.
            var kind: String
            var shouldDisplay: Bool
            var names: [Name]?
        }

        var command: Command
    }
}
