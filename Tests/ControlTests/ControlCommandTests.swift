import Foundation
import TestSupport
import Testing

@Suite("tollgate-control command line")
struct ControlCommandTests {
    let control = BuiltBinary("tollgate-control")

    @Test("usage, version, exit 2 on a bad flag or value")
    func usageAndVersion() throws {
        let help = try control.run(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("USAGE: tollgate-control"))
        for command in ["serve", "bootstrap", "migrate", "keys"] { #expect(help.stdout.contains(command)) }
        let version = try control.run(["version"])
        #expect(version.status == 0)
        #expect(version.stdout == "tollgate-control 0.1.0\n")
        #expect(try control.run(["serve", "--now"]).status == 2)
        #expect(try control.run(["serve", "--token-ttl", "forever"]).status == 2)
        #expect(try control.run(["migrate", "--database", "mysql://x"]).status == 2)
        #expect(try control.run(["bootstrap"]).status == 2, "--client-id is required")
    }

    @Test("migrate is idempotent; TOLLGATE_DATABASE is read from the environment", arguments: ControlServer.Engine.allCases)
    func migrate(engine: ControlServer.Engine) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-migrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = switch engine {
        case .sqlite: "sqlite:" + directory.appendingPathComponent("m.db").path
        case .postgres: try PostgresServer.shared().makeDatabase() + "?sslmode=disable"
        }
        let first = try control.run(["migrate", "--database", database])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.hasPrefix("applied 1"))
        var environment = ProcessInfo.processInfo.environment
        environment["TOLLGATE_DATABASE"] = database
        let second = try control.run(["migrate"], environment: environment)
        #expect(second.status == 0)
        #expect(second.stdout == "schema is up to date (version 3)\n")
    }

    @Test("serve with no flags: SQLite at ./data/tollgate.db and a 0600 master key, with a warning")
    func serveDefaults() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-defaults-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bootstrap = try control.run(["bootstrap", "--client-id", "admin", "--json", "--scrypt-log-n", "12"], in: directory)
        #expect(bootstrap.status == 0, "\(bootstrap.stderr)")
        #expect(bootstrap.stderr.contains("created a new master key"))
        let object = try JSONSerialization.jsonObject(with: Data(bootstrap.stdout.utf8)) as? [String: Any]
        #expect(object?.keys.sorted() == ["client_id", "client_secret"], "--json prints the object and nothing else")
        let key = directory.appendingPathComponent("data/master.key").path
        let permissions = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int
        #expect(permissions == 0o600)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("data/tollgate.db").path))
        // Bootstrapping again re-keys the same client: the old secret stops working.
        let again = try control.run(["bootstrap", "--client-id", "admin", "--json", "--scrypt-log-n", "12"], in: directory)
        #expect(again.status == 0)
        #expect(again.stdout != bootstrap.stdout)
        #expect(!again.stderr.contains("created a new master key"))

        // keys rewrap: the data moves to a new master key; the old one opens nothing any more.
        #expect(try control.run(["keys", "rewrap", "--new-master-key-file", "data/master.key"], in: directory).status == 2)
        let rewrap = try control.run(["keys", "rewrap", "--new-master-key-file", "data/new.key"], in: directory)
        #expect(rewrap.status == 0, "\(rewrap.stderr)")
        #expect(rewrap.stdout.hasPrefix("1 data key re-wrapped under data/new.key"))
        let withOld = try control.run(["bootstrap", "--client-id", "admin", "--scrypt-log-n", "12"], in: directory)
        #expect(withOld.status == 1)
        #expect(withOld.stderr.contains("does not open with this master key"), "\(withOld.stderr)")
        let withNew = try control.run(["bootstrap", "--client-id", "admin", "--master-key-file", "data/new.key", "--scrypt-log-n", "12"], in: directory)
        #expect(withNew.status == 0, "\(withNew.stderr)")
        let repeated = try control.run(["keys", "rewrap", "--new-master-key-file", "data/new.key"], in: directory)
        #expect(repeated.stdout.contains("already wrapped"), "\(repeated.stdout)\(repeated.stderr)")
    }
}
