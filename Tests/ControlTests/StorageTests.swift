import Foundation
import Logging
import TestSupport
import Testing
@testable import tollgate_control

/// The SQL layer in-process, on both engines: what every store relies on.
@Suite("Storage (SQLite and PostgreSQL)")
struct StorageTests {
    static func open(_ engine: ControlServer.Engine) async throws -> any Database {
        let location: DatabaseLocation = switch engine {
        case .sqlite:
            .sqlite(path: FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-store-\(UUID().uuidString)/t.db").path)
        case .postgres:
            try DatabaseLocation(parsing: try PostgresServer.shared().makeDatabase() + "?sslmode=disable")
        }
        return try await location.open(logger: Logger(label: "test"))
    }

    @Test("migrations apply once and are idempotent", arguments: ControlServer.Engine.allCases)
    func migrations(engine: ControlServer.Engine) async throws {
        let database = try await Self.open(engine)
        #expect(try await Migrations.run(on: database) == Migrations.all.map(\.version))
        #expect(try await Migrations.run(on: database) == [])
        #expect(try await Migrations.currentVersion(of: database) == Migrations.latest)
        // Two starts at once (two replicas): each migration still applies exactly once.
        let other = try await Self.open(engine)
        async let first = Migrations.run(on: other)
        async let second = Migrations.run(on: other)
        let applied = try await first + second
        #expect(applied == Migrations.all.map(\.version))
        await database.close()
        await other.close()
    }

    /// A row of the test table `t`, read by position.
    struct TestRow: SQLRowDecodable {
        let id: Int64
        let name: String
        let data: [UInt8]
        let note: String?
        let literal: String

        init(row: some SQLRowReader) throws {
            id = try row.column(0)
            name = try row.column(1)
            data = try row.column(2)
            note = try row.column(3)
            literal = try row.column(4)
        }
    }

    @Test("values round-trip into a typed row; ? inside quotes is not a placeholder", arguments: ControlServer.Engine.allCases)
    func values(engine: ControlServer.Engine) async throws {
        let database = try await Self.open(engine)
        let blob = Migrations.portable("{blob}", for: database.engine)
        try await database.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, data \(raw: blob), note TEXT)")
        try await database.execute(
            "INSERT INTO t (id, name, data, note) VALUES (\(bind: Int64.max), \(bind: "é ? 'x'"), \(bind: [UInt8]([0, 255, 7])), \(bind: SQLValue.null))")
        let row = try #require(try await database.first(
            "SELECT id, name, data, note, 'what?' AS literal FROM t WHERE id = \(bind: Int64.max)", as: TestRow.self))
        #expect(row.id == Int64.max)
        #expect(row.name == "é ? 'x'")
        #expect(row.data == [0, 255, 7])
        #expect(row.note == nil)
        #expect(row.literal == "what?")
        // A column of another type than the record says is an error naming the column.
        await #expect {
            _ = try await database.first("SELECT name FROM t", as: Int64.self)
        } throws: { error in
            if case DatabaseError.column("name", "integer") = error { return true }
            return false
        }
        await database.close()
    }

    @Test("a transaction that throws leaves nothing; a duplicate key is DatabaseError.duplicate", arguments: ControlServer.Engine.allCases)
    func transactions(engine: ControlServer.Engine) async throws {
        let database = try await Self.open(engine)
        try await database.execute("CREATE TABLE t (id TEXT PRIMARY KEY)")
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await database.transaction { executor in
                try await executor.execute("INSERT INTO t (id) VALUES (\(bind: "a"))")
                throw Boom()
            }
        }
        #expect(try await database.query("SELECT id FROM t", as: String.self).isEmpty)
        try await database.transaction { try await $0.execute("INSERT INTO t (id) VALUES (\(bind: "a"))") }
        await #expect {
            try await database.execute("INSERT INTO t (id) VALUES (\(bind: "a"))")
        } throws: { error in
            if case DatabaseError.duplicate = error { return true }
            return false
        }
        #expect(try await database.query("SELECT id FROM t", as: String.self) == ["a"])
        await database.close()
    }

    @Test("a refresh token is marked used once even when two requests race", arguments: ControlServer.Engine.allCases)
    func refreshRace(engine: ControlServer.Engine) async throws {
        let database = try await Self.open(engine)
        try await Migrations.run(on: database)
        let now = Clock.nowMilliseconds()
        try await database.execute("INSERT INTO users (id, email_index, email, attributes, status, created_at, updated_at, version) VALUES ('u', 'i', 'e', '{}', 'active', 0, 0, 1)")
        try await TokenStore.createFamily(id: "f", clientID: "c", userID: "u", now: now, on: database)
        try await TokenStore.insertRefresh(token: "tgr_x", familyID: "f", scope: "", audience: "a", now: now, expiresAt: now + 60_000, on: database)
        let hash = TokenStore.hash("tgr_x")
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask { try await database.transaction { try await TokenStore.markUsed(tokenHash: hash, now: now, on: $0) } }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 1)
        #expect(try await TokenStore.findRefresh("tgr_x", on: database)?.usedAt == now)
        await database.close()
    }
}

@Suite("Data key rotation")
struct DataKeyRotationTests {
    @Test("rotating the data key re-seals every field; a service that has not reloaded still reads them", arguments: ControlServer.Engine.allCases)
    func rotate(engine: ControlServer.Engine) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-datakey-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let location: DatabaseLocation = switch engine {
        case .sqlite: .sqlite(path: directory.appendingPathComponent("t.db").path)
        case .postgres: try DatabaseLocation(parsing: try PostgresServer.shared().makeDatabase() + "?sslmode=disable")
        }
        let keyPath = directory.appendingPathComponent("master.key").path
        let services = try await ControlServices.start(
            database: location, masterKeyPath: keyPath, configuration: OpenAPITests.configuration, logger: Logger(label: "test"))
        let user = UserRecord(
            id: "usr_1", email: "x@y.example", displayName: "X", attributes: "{}", passwordHash: nil, status: "active", roles: [],
            createdAt: 0, updatedAt: 0, lastLogin: nil, version: 1)
        try await UserStore.insert(user, crypto: services.userCrypto, on: services.database)
        let before = try #require(try await services.database.first("SELECT email FROM users WHERE id = 'usr_1'", as: String.self))

        let (keyID, resealed) = try await DataKeys.rotate(services.database, masterKey: try MasterKey.load(path: keyPath, logger: Logger(label: "test")))
        #expect(resealed == 4, "email, display name, attributes and the signing key")
        let after = try #require(try await services.database.first("SELECT email FROM users WHERE id = 'usr_1'", as: String.self))
        #expect(after.hasPrefix("v1.\(keyID).") && after != before)
        #expect(services.userCrypto.keys.cipher.current.id != keyID, "the running service has not seen the new key yet")
        #expect(try await UserStore.find(id: "usr_1", crypto: services.userCrypto, on: services.database)?.email == "x@y.example")
        #expect(services.userCrypto.keys.cipher.current.id == keyID, "it reloaded on the unknown key id")
        try await services.keyRing.reload()
        _ = try services.keyRing.sign(.object([("sub", "x")]))
        #expect(try await DataKeys.rotate(services.database, masterKey: try MasterKey.load(path: keyPath, logger: Logger(label: "test"))).resealed == 4)
        await services.database.close()
    }

    @Test("keys rewrap: data keys move to a new master key; lookups, secret hashes and the signing key keep working; the old key no longer opens anything", arguments: ControlServer.Engine.allCases)
    func rewrap(engine: ControlServer.Engine) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-rewrap-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let location: DatabaseLocation = switch engine {
        case .sqlite: .sqlite(path: directory.appendingPathComponent("t.db").path)
        case .postgres: try DatabaseLocation(parsing: try PostgresServer.shared().makeDatabase() + "?sslmode=disable")
        }
        let logger = Logger(label: "test")
        let paths = ["old", "new", "newer"].map { directory.appendingPathComponent("\($0).key").path }
        func start(_ keyPath: String) async throws -> ControlServices {
            try await ControlServices.start(database: location, masterKeyPath: keyPath, configuration: OpenAPITests.configuration, logger: logger)
        }
        let first = try await start(paths[0])
        try await UserStore.insert(UserRecord(
            id: "usr_1", email: "Rewrap@Example.org", displayName: "R", attributes: "{}", passwordHash: nil, status: "active", roles: [],
            createdAt: 0, updatedAt: 0, lastLogin: nil, version: 1), crypto: first.userCrypto, on: first.database)
        _ = try await DataKeys.rotate(first.database, masterKey: try MasterKey.load(path: paths[0], logger: logger))
        let secretHash = first.clientSecrets.hash("tgs_secret")
        let sealedEmail = try #require(try await first.database.first("SELECT email FROM users WHERE id = 'usr_1'", as: String.self))
        let oldKey = try MasterKey.load(path: paths[0], logger: logger)
        #expect(try await DataKeys.rewrap(first.database, from: oldKey, to: MasterKey(bytes: try MasterKey.create(path: paths[1]))) == .rewrapped(2))
        #expect(try await DataKeys.rewrap(first.database, from: oldKey, to: try MasterKey.load(path: paths[1], logger: logger)) == .alreadyDone)
        #expect(try await first.database.first("SELECT email FROM users WHERE id = 'usr_1'", as: String.self) == sealedEmail,
                "no sealed field changes")
        await first.database.close()

        await #expect(throws: StartupError.self) { _ = try await start(paths[0]) }
        for keyPath in paths[1...] {
            let services = try await start(keyPath)
            #expect(try await UserStore.find(email: "rewrap@example.org", crypto: services.userCrypto, on: services.database)?.id == "usr_1",
                    "the blind index still finds the user")
            #expect(services.clientSecrets.hash("tgs_secret") == secretHash, "client secret hashes still match")
            _ = try services.keyRing.sign(.object([("sub", "x")]))
            if keyPath == paths[1] {
                // A second rewrap chains: the derivation root moves on again.
                _ = try await DataKeys.rewrap(services.database, from: try MasterKey.load(path: paths[1], logger: logger), to: MasterKey(bytes: try MasterKey.create(path: paths[2])))
            }
            await services.database.close()
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: paths[1])
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }
}
