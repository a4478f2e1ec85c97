import CLI
import Foundation

var arguments = Array(CommandLine.arguments.dropFirst())
if let first = arguments.first, ["serve", "bootstrap", "migrate", "keys"].contains(first) {
    arguments = EnvironmentOptions.apply(
        to: arguments, options: TollgateControlCommand.environmentOptions, prefix: TollgateControlCommand.environmentPrefix,
        environment: ProcessInfo.processInfo.environment)
}
CommandLineMain.run(TollgateControlCommand.self, arguments: arguments)
