import Core
import Foundation
import NIOConcurrencyHelpers
import ServiceLifecycle
import UnixSignals

/// Reloads when the policy directory changes. Polls a cheap fingerprint (paths, sizes, modification
/// times of the policy files and the key files the active set uses) once a second: it works on
/// every file system and with the symlink swaps a Kubernetes ConfigMap update makes, where inotify
/// watches on the old targets would go quiet.
struct PolicyWatcher: Service {
    let reloader: PolicyReloader
    let interval: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown { await poll() }
    }

    private func poll() async {
        var last = fingerprint()
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let now = fingerprint()
            if now != last {
                last = now
                reloader.reload(reason: "file change")
            }
        }
    }

    func fingerprint() -> [String] {
        let directory = reloader.directory
        var entries: [String] = []
        let files = (try? PolicyLoader.policyFiles(in: directory)) ?? []
        let keyFiles = reloader.current.current.keyFiles.map(\.path)
        for path in files + keyFiles {
            let full = path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
            var info = stat()
            if stat(full, &info) == 0 {
                entries.append("\(path)|\(info.st_size)|\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)|\(info.st_ino)")
            } else {
                entries.append("\(path)|missing")
            }
        }
        return entries
    }
}

/// SIGHUP reloads the policy now, as operators expect of a daemon.
///
/// The trap is set by `trapHangups()` at the very start of the process, before any port answers:
/// SIGHUP's default action ends the process, and `/readyz` answering 200 must mean a reload signal
/// is safe to send (a trap set only when this service started raced the first `/readyz` and lost
/// about one start in ten). A SIGHUP that arrives before this service runs waits in the sequence.
struct ReloadSignalListener: Service {
    let reloader: PolicyReloader
    let signals: UnixSignalsSequence

    /// Installs the SIGHUP trap and returns once it is registered.
    static func trapHangups() async -> UnixSignalsSequence {
        await UnixSignalsSequence(trapping: .sighup)
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                reloader.reload(reason: "SIGHUP")
            }
        }
    }
}
