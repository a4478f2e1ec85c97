import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL cluster on a loopback port (Debian's `postgresql` package), with
/// durability off. One cluster per test process, started on first use by `shared()` (initdb costs
/// seconds) and stopped when the process exits; each test takes a database of its own with
/// `makeDatabase()`, so tests running in parallel do not see each other's rows.
///
/// initdb refuses to run as root, and CI runs as root: then initdb and pg_ctl run as the
/// `postgres` system user (`runuser -u postgres --`), which owns the cluster directory. The
/// clients (createdb, psql) connect over TCP with `trust` authentication as the superuser
/// `tollgate`, whoever runs them.
///
/// Sendable as checked by the compiler: every stored property is an immutable value, and the
/// cluster is an external process that takes its own locks.
public final class PostgresServer: Sendable {
    public let port: Int
    /// The mkdtemp directory: `data/` (the cluster), `server.log`, the Unix socket.
    public let directory: URL
    private let tools: Tools

    public enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case cannotRunAsPostgres(String)
        case failed(command: String, status: Int32, output: String)
        case notReady(String)

        public var description: String {
            switch self {
            case .notInstalled:
                "PostgreSQL is not installed: no /usr/lib/postgresql/<version>/bin/initdb (apt-get install postgresql (scripts/setup does it))"
            case let .cannotRunAsPostgres(reason):
                "running as root, and initdb refuses root: \(reason) (apt-get install postgresql (scripts/setup does it) creates the postgres user)"
            case let .failed(command, status, output):
                "`\(command)` exited with \(status): \(output)"
            case let .notReady(output):
                "postgres did not start: \(output)"
            }
        }
    }

    /// The cluster of this test process, started on first call. A failed start is remembered, so
    /// the tests after the first fail fast with the same error instead of each running initdb.
    public static func shared() throws -> PostgresServer {
        try cluster.withLockedValue { state in
            if state == nil {
                state = Result { try PostgresServer.start() }
                if case let .success(server) = state {
                    running.withLockedValue { $0 = server }
                    // Captures nothing (a C function pointer): it finds the cluster through `running`.
                    atexit { PostgresServer.stopAtExit() }
                }
            }
            return try state!.get()
        }
    }

    /// A new, empty database of its own; returns its URL.
    public func makeDatabase() throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try tools.run(tools.createdb, ["-h", "127.0.0.1", "-p", String(port), "-U", Self.user, name], in: directory)
        return url(name)
    }

    public func url(_ database: String) -> String {
        "postgres://\(Self.user)@127.0.0.1:\(port)/\(database)"
    }

    /// Runs SQL with psql and returns what it prints, unaligned and tuples only (`-At`, one row a
    /// line, columns split by `|`), without command tags (`-q`) or the last newline. `database` is a
    /// name or a URL from `makeDatabase()`. Throws with psql's error output if a statement fails.
    @discardableResult
    public func psql(_ database: String, _ sql: String) throws -> String {
        var name = database
        if database.contains("://"), let url = URL(string: database) { name = url.lastPathComponent }
        let output = try tools.run(tools.psql, [
            "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U", Self.user,
            "-d", name, "-At", "-c", sql,
        ], in: directory)
        return output.hasSuffix("\n") ? String(output.dropLast()) : output
    }

    public var serverLog: String {
        (try? String(contentsOf: directory.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
    }

    // MARK: - Starting and stopping

    private static let user = "tollgate"
    private static let cluster = NIOLockedValueBox<Result<PostgresServer, any Error>?>(nil)
    /// The started cluster, for the exit handler (which must not wait on `cluster`'s lock).
    private static let running = NIOLockedValueBox<PostgresServer?>(nil)

    private init(port: Int, directory: URL, tools: Tools) {
        self.port = port
        self.directory = directory
        self.tools = tools
    }

    private static func start() throws -> PostgresServer {
        let tools = try Tools.find()
        let directory = try makeDirectory(root: tools.runAsPostgres)
        let data = directory.appendingPathComponent("data").path
        let log = directory.appendingPathComponent("server.log").path
        do {
            try tools.run(tools.initdb, [
                "-D", data, "-U", user, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync",
            ], asServer: true, in: directory)
            watchdog(tools: tools, directory: directory)
            // freeLoopbackPort() can race with another process taking the port: then try another.
            for attempt in 1... {
                let port = freeLoopbackPort()
                // pg_ctl hands the -o words to /bin/sh, so the path is quoted for it.
                let command = tools.serverCommand(tools.pgCtl, [
                    "-D", data, "-l", log, "-w", "-t", "60", "-s", "-o",
                    "-p \(port) -c listen_addresses=127.0.0.1 -k \(shellQuoted(directory.path))"
                        + " -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                    "start",
                ])
                let output = directory.appendingPathComponent("pg_ctl.out").path
                let status = spawnAndWait(command, in: directory.path, output: output)
                if status == 0 { return PostgresServer(port: port, directory: directory, tools: tools) }
                let logText = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                if attempt < 3, logText.contains("Address already in use") { continue }
                let said = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                throw Failure.notReady(
                    "`\(command.map(shellQuoted).joined(separator: " "))` exited with \(status): \(said)"
                        + "\n--- server.log (tail) ---\n\(tail(logText, lines: 30))")
            }
            fatalError("unreachable")
        } catch {
            stop(tools: tools, directory: directory)
            throw error
        }
    }

    /// `pg_ctl stop -m immediate` (no shutdown checkpoint: the data is thrown away) and removes
    /// the directory. Safe in an atexit handler: no Process, no run loop.
    private static func stop(tools: Tools, directory: URL) {
        let data = directory.appendingPathComponent("data").path
        if FileManager.default.fileExists(atPath: data + "/postmaster.pid") {
            _ = spawnAndWait(
                tools.serverCommand(tools.pgCtl, ["-D", data, "-m", "immediate", "-s", "stop"]),
                in: directory.path, output: "/dev/null")
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// posix_spawn and waitpid; the exit status (128 + signal if killed). For pg_ctl, whose
    /// server inherits its descriptors and outlives it: Process keeps a socket open in its
    /// children to learn that they have exited, and with the server holding it, waitUntilExit()
    /// never returns (seen). Here the child gets /dev/null, `output` (stdout and stderr) and
    /// nothing else: it closes every other descriptor, so the server cannot hold a test's sockets.
    private static func spawnAndWait(_ command: [String], in directory: String, output: String) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // glibc 2.34 and 2.29 have these, but its headers declare them for _GNU_SOURCE only, which
        // Swift's Glibc module does not define: look them up.
        let glibc = dlopen(nil, RTLD_NOW)
        if let closeFrom = dlsym(glibc, "posix_spawn_file_actions_addclosefrom_np") {
            typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
            _ = unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 3)
        } else {
            // Older glibc: close what is open now (a descriptor another thread opens meanwhile leaks).
            let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            for fd in open.compactMap({ Int32($0) }) where fd > 2 && fcntl(fd, F_GETFD) != -1 {
                posix_spawn_file_actions_addclose(&actions, fd)
            }
        }
        if let changeDirectory = dlsym(glibc, "posix_spawn_file_actions_addchdir_np") {
            // The postgres user may not be able to enter the caller's working directory.
            typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
            _ = unsafeBitCast(changeDirectory, to: ChangeDirectory.self)(&actions, directory)
        }
        let environment = Tools.environment.map { "\($0.key)=\($0.value)" }
        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        guard posix_spawn(&pid, command[0], &actions, nil, argv, envp) == 0 else { return 127 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { return 127 }
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros, not imported.
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    private static func stopAtExit() {
        guard let server = running.withLockedValue({ server in
            defer { server = nil }
            return server
        }) else { return }
        stop(tools: server.tools, directory: server.directory)
    }

    /// atexit does not run when the test process is killed (Ctrl-C, a CI timeout): a shell, in a
    /// process group of its own (Process puts it there), waits for this process to go and then
    /// stops the cluster. After a normal exit it finds the work done.
    private static func watchdog(tools: Tools, directory: URL) {
        let data = directory.appendingPathComponent("data").path
        let stop = tools.serverCommand(tools.pgCtl, ["-D", data, "-m", "immediate", "-s", "stop"])
        let script = "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; "
            + stop.map(shellQuoted).joined(separator: " ") + " >/dev/null 2>&1; rm -rf " + shellQuoted(directory.path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.currentDirectoryURL = directory
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
    }

    /// A new directory (mode 0700) that the server user owns. As root it is under /tmp, which the
    /// postgres user can reach whatever TMPDIR says.
    private static func makeDirectory(root: Bool) throws -> URL {
        var base = root ? "/tmp" : FileManager.default.temporaryDirectory.path
        while base.count > 1, base.hasSuffix("/") { base.removeLast() }
        // Short: the Unix socket path (directory + /.s.PGSQL.<port>) must fit in 107 bytes.
        var template = Array("\(base)/tollgate-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw Failure.failed(command: "mkdtemp \(base)/tollgate-pg-XXXXXX", status: errno, output: String(cString: strerror(errno)))
        }
        let path = String(cString: made)
        if root {
            guard let user = getpwnam("postgres") else {
                try? FileManager.default.removeItem(atPath: path)
                throw Failure.cannotRunAsPostgres("there is no postgres user")
            }
            guard chown(path, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(atPath: path)
                throw Failure.cannotRunAsPostgres("chown postgres \(path): \(reason)")
            }
        }
        return URL(fileURLWithPath: path, isDirectory: true)
    }

    private static func tail(_ text: String, lines: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// The PostgreSQL programs of the newest installed version, and how to run the server-side ones.
    private struct Tools: Sendable {
        let bin: String
        /// As root: initdb and pg_ctl run as the postgres user, through runuser.
        let runAsPostgres: Bool
        let runuser: String?

        var initdb: String { bin + "/initdb" }
        var pgCtl: String { bin + "/pg_ctl" }
        var createdb: String { bin + "/createdb" }
        var psql: String { bin + "/psql" }

        static func find() throws -> Tools {
            let base = "/usr/lib/postgresql"
            let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [])
                .compactMap { name in Int(name).map { (version: $0, bin: "\(base)/\(name)/bin") } }
                .filter { FileManager.default.isExecutableFile(atPath: $0.bin + "/initdb") }
                .sorted { $0.version > $1.version }
            guard let newest = versions.first else { throw Failure.notInstalled }
            guard geteuid() == 0 else { return Tools(bin: newest.bin, runAsPostgres: false, runuser: nil) }
            guard let runuser = ["/usr/sbin/runuser", "/sbin/runuser"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                throw Failure.cannotRunAsPostgres("runuser is missing (util-linux)")
            }
            return Tools(bin: newest.bin, runAsPostgres: true, runuser: runuser)
        }

        /// A server-side program (initdb, pg_ctl): as the postgres user when we are root.
        func serverCommand(_ executable: String, _ arguments: [String]) -> [String] {
            guard runAsPostgres, let runuser else { return [executable] + arguments }
            return [runuser, "-u", "postgres", "--", executable] + arguments
        }

        /// The environment of every program: no PG* settings of the caller's (PGHOST, PGOPTIONS,
        /// PGSSLMODE…) that could point them elsewhere; a connect timeout so a test cannot hang.
        static let environment: [String: String] = {
            var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
            environment["PGCONNECT_TIMEOUT"] = "10"
            environment["PGCLIENTENCODING"] = "UTF8"
            return environment
        }()

        /// Runs a program to its end; its standard output, or an error with both outputs.
        @discardableResult
        func run(_ executable: String, _ arguments: [String], asServer: Bool = false, in directory: URL) throws -> String {
            let command = asServer ? serverCommand(executable, arguments) : [executable] + arguments
            // The postgres user may not be able to enter the caller's working directory.
            let result = try BuiltBinary.run(
                URL(fileURLWithPath: command[0]), Array(command.dropFirst()), in: directory, environment: Self.environment)
            guard result.status == 0 else {
                throw Failure.failed(
                    command: command.map(shellQuoted).joined(separator: " "), status: result.status,
                    output: (result.stderr + result.stdout).trimmingCharacters(in: .whitespacesAndNewlines))
            }
            return result.stdout
        }
    }
}

/// `text` as one word for /bin/sh.
private func shellQuoted(_ text: String) -> String {
    if !text.isEmpty, text.allSatisfy({ ($0.isASCII && ($0.isLetter || $0.isNumber)) || "/-_.=:@".contains($0) }) { return text }
    return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
