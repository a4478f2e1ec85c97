/// `--some-option` falls back to `TOLLGATE_SOME_OPTION` from the environment: what the spec
/// promises and what a container operator expects. A value on the command line always wins.
///
/// Only the options of the subcommand being run are read, taken from that subcommand's own
/// declaration (its help text), so one environment can serve every subcommand: `TOLLGATE_LISTEN`
/// set for `serve` does not break `migrate`, which has no `--listen`.
import ArgumentParser
import Foundation

public enum EnvironmentOptions {
    /// An option a command declares: `--name VALUE`, or `--name` alone for a flag.
    public struct Declared: Equatable, Sendable {
        public let name: String
        public let takesValue: Bool
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

    /// The long options `command` declares, read from the OPTIONS lines of its help (every option
    /// group included), without `--help` and `--version`.
    public static func declared(by command: any ParsableCommand.Type) -> [Declared] {
        var result: [Declared] = []
        for line in command.helpMessage(includeHidden: false, columns: 10_000).split(separator: "\n") {
            let label = line.drop { $0 == " " }
            guard label.hasPrefix("-") else { continue }
            // The option column ends at the first run of two spaces (the description follows).
            let column = label.range(of: "  ").map { label[..<$0.lowerBound] } ?? label
            for word in column.split(separator: ",").map({ $0.drop { $0 == " " } }) where word.hasPrefix("--") {
                let name = word.dropFirst(2).prefix { $0.isLetter || $0.isNumber || $0 == "-" }
                guard !name.isEmpty, name != "help", name != "version" else { continue }
                let rest = word.dropFirst(2 + name.count)
                let option = Declared(name: String(name), takesValue: rest.hasPrefix(" <"))
                if !result.contains(option) { result.append(option) }
            }
        }
        return result
    }
}
