import Foundation
import TestSupport
import Testing

@Suite("tollgate-control")
struct ControlCommandTests {
    let control = BuiltBinary("tollgate-control")

    @Test("prints its usage and version until the control plane lands")
    func usageAndVersion() throws {
        let help = try control.run(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("USAGE: tollgate-control"))
        let version = try control.run(["version"])
        #expect(version.status == 0)
        #expect(version.stdout == "tollgate-control 0.1.0\n")
        #expect(try control.run(["serve", "--now"]).status == 2)
    }
}
