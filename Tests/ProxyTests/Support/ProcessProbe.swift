import Foundation

/// What the kernel says about a running process: its open descriptors, its TCP sockets by port,
/// its resident memory. The leak tests compare these before and after a load, independently of
/// what the process reports about itself.
struct ProcessProbe {
    let pid: Int32

    /// One TCP socket the process holds open (IPv4; the tests use 127.0.0.1 only).
    struct TCPSocket: Equatable {
        let localPort: Int
        let remotePort: Int
        /// The kernel's state code: 0x01 established, 0x02 SYN sent, 0x0A listen, …
        let state: Int
    }

    /// How many descriptors `/proc/PID/fd` lists.
    func descriptorCount() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
    }

    /// The TCP sockets among the process's descriptors: their inodes matched against
    /// `/proc/PID/net/tcp`.
    func tcpSockets() throws -> [TCPSocket] {
        let directory = "/proc/\(pid)/fd"
        var inodes: Set<Substring> = []
        for entry in try FileManager.default.contentsOfDirectory(atPath: directory) {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(entry)"),
                target.hasPrefix("socket:[")
            else { continue }
            inodes.insert(Substring(target.dropFirst(8).dropLast()))
        }
        let table = try Self.read("/proc/\(pid)/net/tcp")
        return table.split(separator: "\n").dropFirst().compactMap { line -> TCPSocket? in
            let fields = line.split(separator: " ")
            guard fields.count > 9, inodes.contains(fields[9]),
                let local = fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }),
                let remote = fields[2].split(separator: ":").last.flatMap({ Int($0, radix: 16) }),
                let state = Int(fields[3], radix: 16)
            else { return nil }
            return TCPSocket(localPort: local, remotePort: remote, state: state)
        }
    }

    /// A procfs file to its end. (`String(contentsOfFile:)` trusts the size `stat` gives, which
    /// is 0 for these files, and returns only the first page of a large `net/tcp`.)
    static func read(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CocoaError(.fileReadNoSuchFile) }
        defer { try? handle.close() }
        return String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
    }

    /// Resident memory now (VmRSS), in bytes.
    func residentBytes() -> Int? {
        guard let status = try? Self.read("/proc/\(pid)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").compactMap { Int($0) }.first.map { $0 * 1024 }
        }
        return nil
    }
}

extension Int {
    /// Bytes as MiB with one decimal, for test output.
    var mebibytes: String { String(format: "%.1f MiB", Double(self) / 1_048_576) }
}
