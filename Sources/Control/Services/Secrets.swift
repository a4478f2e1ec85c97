import Core
import Foundation
import Logging
import NIOPosix

/// The master key: 32 random bytes, base64 in a file only the service's user may read. It wraps
/// the data keys (which seal PII and signing keys) and keys the blind index and secret hashes.
struct MasterKey: Sendable {
    let bytes: [UInt8]
    /// What the blind index and secret hashes are derived from: the master key itself until the
    /// first `keys rewrap`, which stores the old root wrapped under the new master key (see
    /// `DataKeys.rewrap`) so that neither has to be recomputed — a secret hash cannot be.
    let derivationRoot: [UInt8]

    init(bytes: [UInt8], derivationRoot: [UInt8]? = nil) {
        self.bytes = bytes
        self.derivationRoot = derivationRoot ?? bytes
    }

    static let defaultPath = "./data/master.key"

    enum Failure: Error, CustomStringConvertible {
        case unreadable(String, String)
        case malformed(String)

        var description: String {
            switch self {
            case let .unreadable(path, reason): "--master-key-file \(path): \(reason)"
            case let .malformed(path): "--master-key-file \(path): not a base64 32-byte key (tollgate-control writes one when the file is missing)"
            }
        }
    }

    /// Reads `path`; when it does not exist, creates it (mode 0600) with a warning, because a key
    /// made on the spot must be backed up: without it the data cannot be read.
    static func load(path: String, logger: Logger) throws -> MasterKey {
        let manager = FileManager.default
        if !manager.fileExists(atPath: path) {
            let bytes = try create(path: path)
            logger.warning(
                "created a new master key; back it up: without it the stored secrets cannot be read",
                metadata: ["path": "\(path)"])
            return MasterKey(bytes: bytes)
        }
        let contents: String
        do {
            contents = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Failure.unreadable(path, "\(error.localizedDescription)")
        }
        if let permissions = (try? manager.attributesOfItem(atPath: path))?[.posixPermissions] as? Int, permissions & 0o077 != 0 {
            logger.warning("the master key file is readable by other users; chmod 600 it", metadata: ["path": "\(path)"])
        }
        guard let data = Data(base64Encoded: contents.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
            throw Failure.malformed(path)
        }
        return MasterKey(bytes: Array(data))
    }

    /// Writes a new random key to `path`, which must not exist: created 0600 from the first byte
    /// (`O_EXCL`, no window where another user could read it) and synced before this returns, so a
    /// key that wraps stored data is on disk before the data depends on it.
    static func create(path: String) throws -> [UInt8] {
        let bytes = try SecureRandom.bytes(32)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure.unreadable(path, "cannot create it: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let text = Array((Data(bytes).base64EncodedString() + "\n").utf8)
        let written = text.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == text.count, fsync(descriptor) == 0 else {
            unlink(path)
            throw Failure.unreadable(path, "cannot write it: \(String(cString: strerror(errno)))")
        }
        return bytes
    }

    /// A key for one purpose, derived so that no two uses share key material.
    func derived(_ purpose: String) -> [UInt8] {
        HMAC.authenticationCode(.sha256, key: derivationRoot, message: Array("tollgate \(purpose) v1".utf8))
    }
}

/// Client secrets: 256 random bits, shown once, stored as a keyed hash. A secret this long cannot
/// be guessed, so a slow KDF would only slow every token request; the hash is keyed by the master
/// key, so a copy of the database alone cannot even check a guess.
struct ClientSecrets: Sendable {
    private let key: [UInt8]

    init(masterKey: MasterKey) {
        key = masterKey.derived("client secret")
    }

    static func generate() throws -> String {
        "tgs_" + Base64URL.encode(try SecureRandom.bytes(32))
    }

    func hash(_ secret: String) -> String {
        "hmac-sha256$" + Hex.encode(HMAC.authenticationCode(.sha256, key: key, message: Array(secret.utf8)))
    }

    func matches(_ secret: String, stored: String) -> Bool {
        ConstantTime.equal(Array(hash(secret).utf8), Array(stored.utf8))
    }
}

enum ConstantTime {
    static func equal(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}

/// User passwords: scrypt (OWASP: N = 2^17, r = 8, p = 1 by default), run on NIO's blocking pool so
/// a hash never holds up the cooperative threads that serve other requests.
struct PasswordHasher: Sendable {
    let parameters: Scrypt.Parameters
    /// Checked when the user does not exist, so a wrong email takes as long as a wrong password.
    private let decoy: String

    init(logN: Int) throws {
        parameters = Scrypt.Parameters(logN: logN, r: 8, p: 1)
        decoy = try Scrypt.hash("decoy password", parameters: parameters)
    }

    func hash(_ password: String) async throws -> String {
        let parameters = parameters
        return try await NIOThreadPool.singleton.runIfActive { try Scrypt.hash(password, parameters: parameters) }
    }

    func verify(_ password: String, stored: String?) async -> Bool {
        let encoded = stored ?? decoy
        let matches = (try? await NIOThreadPool.singleton.runIfActive { Scrypt.verify(password, encoded: encoded) }) ?? false
        return matches && stored != nil
    }
}
