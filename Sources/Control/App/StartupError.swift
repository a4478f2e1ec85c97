import Core
import Synchronization

/// A start-up problem explained in one line (exit status 1).
struct StartupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
