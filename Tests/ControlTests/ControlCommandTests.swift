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
        #expect(second.stdout == "schema is up to date (version 4)\n")
    }

    @Test("one environment serves every subcommand: each reads only the TOLLGATE_* of its own options")
    func environmentPerSubcommand() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-env-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var environment = ProcessInfo.processInfo.environment
        for (name, value) in [
            ("DATABASE", "sqlite:" + directory.appendingPathComponent("env.db").path),
            ("MASTER_KEY_FILE", directory.appendingPathComponent("env.key").path),
            ("LISTEN", "127.0.0.1:1"), ("ISSUER", "http://127.0.0.1:1"), ("TOKEN_TTL", "5m"), ("REDIS", "redis://127.0.0.1:1"),
            ("CLIENT_ID", "ops"), ("JSON", "true"), ("SCRYPT_LOG_N", "12"), ("LOG_FORMAT", "text"), ("NEW_MASTER_KEY_FILE", "unused"),
        ] {
            environment["TOLLGATE_" + name] = value
        }
        let migrate = try control.run(["migrate"], in: directory, environment: environment)
        #expect(migrate.status == 0, "migrate ignores the options it does not have: \(migrate.stderr)")
        let bootstrap = try control.run(["bootstrap"], in: directory, environment: environment)
        #expect(bootstrap.status == 0, "\(bootstrap.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(bootstrap.stdout.utf8)) as? [String: Any]
        #expect(object?["client_id"] as? String == "ops", "TOLLGATE_CLIENT_ID and the TOLLGATE_JSON flag")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("env.key").path), "TOLLGATE_MASTER_KEY_FILE")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("data").path), "nothing at the defaults")
        let rotate = try control.run(["keys", "rotate"], in: directory, environment: environment)
        #expect(rotate.status == 0, "\(rotate.stderr)")
        // A flag on the command line wins over the environment.
        let explicit = try control.run(["bootstrap", "--client-id", "other"], in: directory, environment: environment)
        #expect((try JSONSerialization.jsonObject(with: Data(explicit.stdout.utf8)) as? [String: Any])?["client_id"] as? String == "other")
        environment["TOLLGATE_TOKEN_TTL"] = "forever"
        let bad = try control.run(["keys", "rotate"], in: directory, environment: environment)
        #expect(bad.status == 2, "a bad value from the environment is a usage error like a bad flag")
    }

    @Test("serve with no flags starts: SQLite at ./data/tollgate.db, a 0600 master key and a warning")
    func serveWithNoFlags() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // The listen address is the one thing a test must choose; it comes from the environment.
        let port = freeLoopbackPort()
        var environment = ProcessInfo.processInfo.environment
        environment["TOLLGATE_LISTEN"] = "127.0.0.1:\(port)"
        let process = Process()
        process.executableURL = control.url
        process.arguments = ["serve"]
        process.currentDirectoryURL = directory
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        var healthy = false
        for _ in 0..<100 where !healthy {
            healthy = (try? { () throws -> Int in
                let connection = try RawHTTPConnection(port: port, timeout: 2)
                try connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return try connection.readResponse().status
            }()) == 200
            if !healthy { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(healthy)
        let key = directory.appendingPathComponent("data/master.key").path
        #expect(try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int == 0o600)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("data/tollgate.db").path))
        process.terminate()
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(stderr.contains("created a new master key"), "\(stderr)")
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
