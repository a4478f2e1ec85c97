import Foundation

/// Reads the key files issuers name, relative to the policy directory (or absolute), and remembers
/// each one so its bytes count in the policy set's hash.
final class KeyFileReader {
    static let maximumSize = 1 << 20

    let directory: String
    private(set) var read: [String: [UInt8]] = [:]

    init(directory: String) {
        self.directory = directory
    }

    /// The file's bytes, or why it cannot be used ("does not exist", …), phrased to follow its path.
    func read(_ path: String) -> Result<[UInt8], KeyFileFailure> {
        let resolved = path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) else {
            return .failure(KeyFileFailure("does not exist (looked for \(resolved))"))
        }
        guard !isDirectory.boolValue else { return .failure(KeyFileFailure("is a directory")) }
        guard let data = FileManager.default.contents(atPath: resolved) else {
            return .failure(KeyFileFailure("cannot be read (permissions?)"))
        }
        guard data.count <= Self.maximumSize else { return .failure(KeyFileFailure("is larger than 1 MiB")) }
        let bytes = [UInt8](data)
        read[path] = bytes
        return .success(bytes)
    }
}

struct KeyFileFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Checks that a key file holds public keys that the issuer's algorithms can use. Catches at load
/// what would otherwise surface as every token failing with 401 in production.
enum KeyFileCheck {
    static let minimumRSABits = 2048

    /// Why the file is unusable, phrased to follow `key file "x"`, or nil when it is fine.
    /// `algorithms` is nil when the issuer's list is itself invalid (then only the format is checked).
    static func problem(path: String, contents: [UInt8], algorithms: [JWTAlgorithm]?) -> String? {
        if path.lowercased().hasSuffix(".json") {
            return jwksProblem(contents, algorithms: algorithms)
        }
        switch PublicKeyPEM.inspect(contents) {
        case .privateKey:
            return "holds a private key; give the verifier the public key only"
        case .notAPublicKey:
            return "holds no PEM public key (-----BEGIN PUBLIC KEY-----); a JWKS file must end in .json"
        case let .publicKey(kind):
            return kindProblem(kind, algorithms: algorithms)
        }
    }

    private static func kindProblem(_ kind: PublicKeyPEM.Kind, algorithms: [JWTAlgorithm]?) -> String? {
        if case let .rsa(bits) = kind, bits < minimumRSABits {
            return "holds an RSA key of \(bits) bits; at least \(minimumRSABits) are required"
        }
        guard let algorithms else { return nil }
        let usable = algorithms.contains { algorithm in
            switch kind {
            case .rsa: algorithm.keyKind == .rsa
            case let .ec(curve): algorithm.keyKind == .ec && algorithm.curve == curve
            case .ed25519: algorithm == .edDSA
            case .other: false
            }
        }
        if usable { return nil }
        if case let .other(name) = kind { return "holds a \(name) key, which JWT verification does not support" }
        return "holds an \(kind) key, which none of the issuer's algorithms (\(algorithms.map(\.rawValue).joined(separator: ", "))) can use"
    }

    private static func jwksProblem(_ contents: [UInt8], algorithms: [JWTAlgorithm]?) -> String? {
        // The same reader the sidecar uses at run time; here every key it would skip is an error.
        let parsed: JWKS.Parsed
        do {
            parsed = try JWKS.parse(contents)
        } catch {
            return "is not a JWKS document (a JSON object with a \"keys\" array)"
        }
        guard parsed.count > 0 else { return "has an empty \"keys\" array" }
        if let skipped = parsed.skipped.first { return skipped.description }
        for (key, label) in zip(parsed.keys, parsed.labels) {
            guard case let .publicKey(kind) = key.material else { continue }
            if let problem = kindProblem(kind, algorithms: algorithms) { return "\(label) \(problem)" }
        }
        return nil
    }
}
