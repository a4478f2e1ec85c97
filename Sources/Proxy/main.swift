import CLI
import Foundation

var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "run" {
    arguments = EnvironmentOptions.apply(
        to: arguments, options: RunCommand.environmentOptions, prefix: RunCommand.environmentPrefix,
        environment: ProcessInfo.processInfo.environment)
}
CommandLineMain.run(TollgateProxyCommand.self, arguments: arguments)
