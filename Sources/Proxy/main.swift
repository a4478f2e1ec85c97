import CLI
import Foundation

let arguments = EnvironmentOptions.apply(
    to: Array(CommandLine.arguments.dropFirst()), root: TollgateProxyCommand.self,
    prefix: RunCommand.environmentPrefix, environment: ProcessInfo.processInfo.environment)
await CommandLineMain.run(TollgateProxyCommand.self, arguments: arguments)
