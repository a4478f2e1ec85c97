/// JSON Web Key Sets (RFC 7517) → verification keys. Keys Tollgate cannot use for signatures
/// (`use: enc`, `kty: oct`, unknown curves, RSA under 2048 bits) are skipped with a reason rather
/// than failing the whole set: identity providers publish encryption keys next to signing keys.
public enum JWKS {
    public struct Parsed: Sendable {
        public let keys: [VerificationKey]
        /// `keys[1] (kid "x")` for each of `keys`, to name it in messages.
        public let labels: [String]
        /// The keys that cannot be used, each with why (phrased to follow its label).
        public let skipped: [Skipped]
        /// Entries in the document's `keys` array.
        public let count: Int
    }

    public struct Skipped: Sendable, CustomStringConvertible {
        public let label: String
        public let reason: String
        public var description: String { "\(label) \(reason)" }
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public static func parse(_ document: [UInt8]) throws(Failure) -> Parsed {
        let root: JSONValue
        do {
            root = try JSONValue.parse(document)
        } catch {
            throw Failure(description: "not JSON: \(error)")
        }
        guard let entries = root["keys"]?.arrayValue else {
            throw Failure(description: "not a JWKS document (a JSON object with a \"keys\" array)")
        }
        var keys: [VerificationKey] = []
        var labels: [String] = []
        var skipped: [Skipped] = []
        for (index, entry) in entries.enumerated() {
            let kid = entry["kid"]?.stringValue
            let label = kid.map { "keys[\(index)] (kid \"\($0)\")" } ?? "keys[\(index)]"
            do {
                keys.append(try key(entry, keyID: kid))
                labels.append(label)
            } catch {
                skipped.append(Skipped(label: label, reason: error.description))
            }
        }
        return Parsed(keys: keys, labels: labels, skipped: skipped, count: entries.count)
    }

    static func key(_ jwk: JSONValue, keyID: String?) throws(Failure) -> VerificationKey {
        guard jwk.objectValue != nil else { throw Failure(description: "is not a JSON object") }
        if let use = jwk["use"]?.stringValue, use != "sig" { throw Failure(description: "has use \"\(use)\", not \"sig\"") }
        if jwk["d"] != nil || jwk["k"] != nil { throw Failure(description: "holds private or secret key material") }
        var algorithm: JWTAlgorithm?
        if let name = jwk["alg"]?.stringValue {
            guard let known = JWTAlgorithm(rawValue: name) else { throw Failure(description: "has alg \"\(name)\", not a signature algorithm Tollgate supports") }
            algorithm = known
        }
        func bytes(_ member: String) throws(Failure) -> [UInt8] {
            guard let text = jwk[member]?.stringValue, let value = Base64URL.decode(text) else {
                throw Failure(description: "has no valid base64url \"\(member)\"")
            }
            return value
        }
        do {
            switch jwk["kty"]?.stringValue {
            case "RSA":
                let modulus = try bytes("n")
                let bits = modulus.drop { $0 == 0 }.count * 8
                guard bits >= 2048 else { throw Failure(description: "holds an RSA key of \(bits) bits; at least 2048 are required") }
                return try VerificationKey.rsa(modulus: modulus, exponent: try bytes("e"), keyID: keyID, algorithm: algorithm)
            case "EC":
                guard let curve = jwk["crv"]?.stringValue else { throw Failure(description: "is an EC key without \"crv\"") }
                return try VerificationKey.ec(curve: curve, x: try bytes("x"), y: try bytes("y"), keyID: keyID, algorithm: algorithm)
            case "OKP":
                guard jwk["crv"]?.stringValue == "Ed25519" else { throw Failure(description: "is an OKP key that is not Ed25519") }
                return try VerificationKey.ed25519(x: try bytes("x"), keyID: keyID)
            case let other:
                throw Failure(description: "has unsupported kty \(other.map { "\"\($0)\"" } ?? "(missing)")")
            }
        } catch let error as Failure {
            throw error
        } catch let error as CryptoError {
            throw Failure(description: "holds an invalid key: \(error.message)")
        } catch {
            throw Failure(description: "\(error)")
        }
    }
}

extension IssuerKeys {
    public struct LoadFailure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// HMAC secrets shorter than this are refused (RFC 7518 §3.2: at least the hash's size).
    public static let minimumSecretBytes = 32

    /// The keys of an issuer whose keys come with the policy set (key files) or the process
    /// environment (`secret_env`); nil for a `jwks_url` issuer, whose keys are fetched.
    public static func load(_ issuer: IssuerPolicy, environment: [String: String]) throws(LoadFailure) -> IssuerKeys? {
        switch issuer.keySource {
        case .jwksURL:
            return nil
        case let .secretEnvironment(variable):
            guard let secret = environment[variable], !secret.isEmpty else {
                throw LoadFailure(description: "issuer \(issuer.name): environment variable \(variable) (secret_env) is not set")
            }
            guard secret.utf8.count >= minimumSecretBytes else {
                throw LoadFailure(description: "issuer \(issuer.name): the secret in \(variable) is \(secret.utf8.count) bytes; at least \(minimumSecretBytes) are required")
            }
            return IssuerKeys(keys: [VerificationKey(hmacSecret: Array(secret.utf8))])
        case let .keyFiles(files):
            var keys: [VerificationKey] = []
            for file in files {
                if file.path.lowercased().hasSuffix(".json") {
                    do {
                        keys.append(contentsOf: try JWKS.parse(file.contents).keys)
                    } catch {
                        throw LoadFailure(description: "issuer \(issuer.name): key file \(file.path): \(error)")
                    }
                } else {
                    do {
                        keys.append(try VerificationKey.pem(file.contents))
                    } catch {
                        throw LoadFailure(description: "issuer \(issuer.name): key file \(file.path): \(error.message)")
                    }
                }
            }
            return IssuerKeys(keys: keys)
        }
    }
}
