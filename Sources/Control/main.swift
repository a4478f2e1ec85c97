import CLI
import Foundation

let arguments = EnvironmentOptions.apply(
    to: Array(CommandLine.arguments.dropFirst()), root: TollgateControlCommand.self,
    prefix: TollgateControlCommand.environmentPrefix, environment: ProcessInfo.processInfo.environment)
await CommandLineMain.run(TollgateControlCommand.self, arguments: arguments)
