import CLI
import Testing
@testable import tollgate_proxy

/// `TOLLGATE_<OPTION>` fallbacks are derived from ArgumentParser's own model of each command, so
/// they follow custom names and flags, not the wording of `--help`.
@Suite("TOLLGATE_* environment fallbacks")
struct EnvironmentOptionsTests {
    @Test("the options of a subcommand, custom long names included; flags take no value; no --help")
    func declared() {
        let explain = EnvironmentOptions.declared(by: ExplainCommand.self)
        let names = explain.map(\.name)
        #expect(names.contains("header") && names.contains("as") && names.contains("policies"), "\(names)")
        #expect(!names.contains("headers") && !names.contains("help") && !names.contains("H"))
        #expect(explain.first { $0.name == "json" }?.takesValue == false)
        #expect(explain.first { $0.name == "as" }?.takesValue == true)
        let run = EnvironmentOptions.declared(by: RunCommand.self).map(\.name)
        #expect(run.contains("max-body-bytes") && run.contains("upstream") && run.contains("tls-client-ca"))
    }

    @Test("the environment fills what the command line leaves out, for the subcommand named only")
    func apply() {
        let environment = ["TOLLGATE_UPSTREAM": "http://127.0.0.1:1", "TOLLGATE_LISTEN": "127.0.0.1:2", "TOLLGATE_AS": "alice",
                           "TOLLGATE_JSON": "yes"]
        let run = EnvironmentOptions.apply(
            to: ["run", "--listen", "0.0.0.0:9"], root: TollgateProxyCommand.self, prefix: "TOLLGATE_", environment: environment)
        #expect(run == ["run", "--listen", "0.0.0.0:9", "--upstream", "http://127.0.0.1:1"])
        let explain = EnvironmentOptions.apply(
            to: ["explain", "GET", "/"], root: TollgateProxyCommand.self, prefix: "TOLLGATE_", environment: environment)
        #expect(explain == ["explain", "GET", "/", "--as", "alice", "--json"])
        #expect(EnvironmentOptions.apply(to: [], root: TollgateProxyCommand.self, prefix: "TOLLGATE_", environment: environment) == [])
    }
}
