internal import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// A key that verifies JWS signatures: an OpenSSL public key (RSA, EC, Ed25519) or an HMAC secret.
/// Immutable after creation, so one instance is shared by every event loop; the per-loop
/// `SignatureVerifier` keeps the OpenSSL contexts that are not thread-safe.
public final class VerificationKey: Sendable, CustomStringConvertible {
    public enum Material: Sendable {
        case publicKey(PublicKeyPEM.Kind)
        case hmacSecret
    }

    /// `kid` from a JWKS, nil for PEM files and secrets.
    public let keyID: String?
    /// JWK `alg`, when the JWKS pins the key to one algorithm.
    public let pinnedAlgorithm: JWTAlgorithm?
    public let material: Material
    /// Owned; freed in deinit. Nil for HMAC secrets.
    nonisolated(unsafe) let pkey: OpaquePointer?
    let secret: [UInt8]

    private init(pkey: OpaquePointer, keyID: String?, pinnedAlgorithm: JWTAlgorithm?) {
        self.pkey = pkey
        self.keyID = keyID
        self.pinnedAlgorithm = pinnedAlgorithm
        self.material = .publicKey(PublicKeyPEM.kind(of: pkey))
        self.secret = []
    }

    /// An HMAC secret (HS256/384/512).
    public init(hmacSecret: [UInt8]) {
        self.pkey = nil
        self.keyID = nil
        self.pinnedAlgorithm = nil
        self.material = .hmacSecret
        self.secret = hmacSecret
    }

    deinit {
        if let pkey { EVP_PKEY_free(pkey) }
    }

    public var description: String {
        let kind: String = switch material {
        case let .publicKey(kind): kind.description
        case .hmacSecret: "HMAC secret"
        }
        return keyID.map { "\(kind) key \"\($0)\"" } ?? "\(kind) key"
    }

    /// True when a token signed with `algorithm` may be checked with this key: the key's type and
    /// curve are the algorithm's, and a JWK `alg` (if any) names it. This is the algorithm-confusion
    /// guard: an HS256 token never meets an RSA key.
    public func fits(_ algorithm: JWTAlgorithm) -> Bool {
        if let pinnedAlgorithm, pinnedAlgorithm != algorithm { return false }
        switch (material, algorithm.keyKind) {
        case (.hmacSecret, .hmacSecret): return true
        case let (.publicKey(.rsa(bits)), .rsa): return bits >= 2048
        case let (.publicKey(.ec(curve)), .ec): return curve == algorithm.curve
        case (.publicKey(.ed25519), .ed25519): return true
        default: return false
        }
    }

    // MARK: Import

    /// The first public key of a PEM file (`-----BEGIN PUBLIC KEY-----`).
    public static func pem(_ pem: [UInt8]) throws(CryptoError) -> VerificationKey {
        defer { ERR_clear_error() }
        let key = pem.withUnsafeBytes { bytes -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, { _, _, _, _ in 0 }, nil)
        }
        guard let key else { throw CryptoError(.invalidKey, "no PEM public key") }
        return VerificationKey(pkey: key, keyID: nil, pinnedAlgorithm: nil)
    }

    /// An RSA public key from its JWK modulus and exponent (big-endian bytes).
    public static func rsa(modulus: [UInt8], exponent: [UInt8], keyID: String?, algorithm: JWTAlgorithm?) throws(CryptoError) -> VerificationKey {
        let modulus = Array(modulus.drop { $0 == 0 })
        let exponent = Array(exponent.drop { $0 == 0 })
        guard !modulus.isEmpty, !exponent.isEmpty, exponent.count <= 8 else {
            throw CryptoError(.invalidKey, "RSA key with an empty modulus or a bad exponent")
        }
        return try fromData(type: "RSA", keyID: keyID, algorithm: algorithm) { builder, strings in
            guard let n = BN_bin2bn(modulus, Int32(modulus.count), nil) else { return [] }
            guard let e = BN_bin2bn(exponent, Int32(exponent.count), nil) else { BN_free(n); return [] }
            guard OSSL_PARAM_BLD_push_BN(builder, strings.keep("n"), n) == 1,
                  OSSL_PARAM_BLD_push_BN(builder, strings.keep("e"), e) == 1
            else {
                BN_free(n); BN_free(e); return []
            }
            return [n, e]
        }
    }

    /// An EC public key from its JWK curve and coordinates.
    public static func ec(curve: String, x: [UInt8], y: [UInt8], keyID: String?, algorithm: JWTAlgorithm?) throws(CryptoError) -> VerificationKey {
        let (group, size): (String, Int)
        switch curve {
        case "P-256": (group, size) = ("prime256v1", 32)
        case "P-384": (group, size) = ("secp384r1", 48)
        case "P-521": (group, size) = ("secp521r1", 66)
        default: throw CryptoError(.invalidKey, "unsupported EC curve \"\(curve)\"")
        }
        guard x.count == size, y.count == size else {
            throw CryptoError(.invalidKey, "EC coordinates must be \(size) bytes each for \(curve)")
        }
        let point = [0x04] + x + y
        return try fromData(type: "EC", keyID: keyID, algorithm: algorithm) { builder, strings in
            let pointBytes = strings.keep(point)
            guard OSSL_PARAM_BLD_push_utf8_string(builder, strings.keep("group"), strings.keep(group), 0) == 1,
                  OSSL_PARAM_BLD_push_octet_string(builder, strings.keep("pub"), pointBytes, point.count) == 1
            else { return [] }
            return [nil]
        }
    }

    /// An Ed25519 public key from its JWK `x` (32 bytes).
    public static func ed25519(x: [UInt8], keyID: String?) throws(CryptoError) -> VerificationKey {
        guard x.count == 32 else { throw CryptoError(.invalidKey, "an Ed25519 key is 32 bytes") }
        defer { ERR_clear_error() }
        guard let key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, x, x.count) else {
            throw CryptoError(.invalidKey, "Ed25519 key rejected by OpenSSL")
        }
        return VerificationKey(pkey: key, keyID: keyID, pinnedAlgorithm: .edDSA)
    }

    /// C memory that must outlive an `OSSL_PARAM_BLD`: the builder keeps the pointers it is given
    /// (names, strings, octets) until `OSSL_PARAM_BLD_to_param`, so Swift's temporary bridged
    /// pointers would dangle.
    private final class KeptMemory {
        private var pointers: [UnsafeMutableRawPointer] = []

        func keep(_ string: String) -> UnsafePointer<CChar> {
            let copy = strdup(string)!
            pointers.append(UnsafeMutableRawPointer(copy))
            return UnsafePointer(copy)
        }

        func keep(_ bytes: [UInt8]) -> UnsafeRawPointer {
            let copy = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            pointers.append(copy)
            return UnsafeRawPointer(copy)
        }

        deinit {
            for pointer in pointers { free(pointer) }
        }
    }

    /// Builds a key with `EVP_PKEY_fromdata`; `push` adds the parameters and returns the BIGNUMs to
    /// free afterwards (an empty array means it failed).
    private static func fromData(
        type: String, keyID: String?, algorithm: JWTAlgorithm?, push: (OpaquePointer, KeptMemory) -> [OpaquePointer?]
    ) throws(CryptoError) -> VerificationKey {
        defer { ERR_clear_error() }
        guard let builder = OSSL_PARAM_BLD_new() else { throw CryptoError(.invalidKey, "out of memory") }
        defer { OSSL_PARAM_BLD_free(builder) }
        let kept = KeptMemory()
        let owned = push(builder, kept)
        defer { for bignum in owned { if let bignum { BN_free(bignum) } } }
        guard !owned.isEmpty, let params = OSSL_PARAM_BLD_to_param(builder) else {
            throw CryptoError(.invalidKey, "\(type) key parameters rejected")
        }
        defer { OSSL_PARAM_free(params) }
        withExtendedLifetime(kept) {}
        guard let context = EVP_PKEY_CTX_new_from_name(nil, type, nil) else {
            throw CryptoError(.invalidKey, "OpenSSL has no \(type) support")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_fromdata_init(context) == 1,
              EVP_PKEY_fromdata(context, &key, tollgate_EVP_PKEY_PUBLIC_KEY, params) == 1, let key
        else {
            throw CryptoError(.invalidKey, "\(type) key rejected: \(OpenSSLErrorQueue.drain(orElse: "invalid parameters"))")
        }
        // An EC point not on the curve must be refused here, not discovered as a failed signature.
        if type == "EC" {
            guard let check = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else { EVP_PKEY_free(key); throw CryptoError(.invalidKey, "out of memory") }
            defer { EVP_PKEY_CTX_free(check) }
            guard EVP_PKEY_public_check(check) == 1 else {
                EVP_PKEY_free(key)
                throw CryptoError(.invalidKey, "EC point is not on the curve")
            }
        }
        return VerificationKey(pkey: key, keyID: keyID, pinnedAlgorithm: algorithm)
    }
}
