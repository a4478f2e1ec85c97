import CLI

CommandLineMain.run(TollgateControlCommand.self)
