import CLI

CommandLineMain.run(TollgateProxyCommand.self)
