internal import COpenSSL

/// A private key that signs JWTs: EC P-256 (ES256, the control plane's default) or RSA ≥ 2048
/// (RS256). Immutable after creation; every `sign` makes its own OpenSSL context, so one instance
/// is shared by all threads.
public final class SigningKey: Sendable {
    public let algorithm: JWTAlgorithm
    /// Owned; freed in deinit.
    nonisolated(unsafe) private let pkey: OpaquePointer

    private init(pkey: OpaquePointer, algorithm: JWTAlgorithm) {
        self.pkey = pkey
        self.algorithm = algorithm
    }

    deinit { EVP_PKEY_free(pkey) }

    /// The algorithms the control plane signs with.
    public static let supported: [JWTAlgorithm] = [.es256, .rs256]

    /// A new random key for `algorithm` (ES256: P-256; RS256: 2048-bit RSA).
    public static func generate(_ algorithm: JWTAlgorithm) throws(CryptoError) -> SigningKey {
        let context: OpaquePointer?
        switch algorithm {
        case .es256: context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil)
        case .rs256: context = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil)
        default: throw CryptoError(.invalidKey, "the control plane signs with ES256 or RS256, not \(algorithm)")
        }
        guard let context else { throw CryptoError(.invalidKey, OpenSSLErrorQueue.drain(orElse: "no key context")) }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1 else {
            throw CryptoError(.invalidKey, OpenSSLErrorQueue.drain(orElse: "keygen init failed"))
        }
        let configured = algorithm == .es256
            ? EVP_PKEY_CTX_set_group_name(context, "P-256")
            : EVP_PKEY_CTX_set_rsa_keygen_bits(context, 2048)
        guard configured == 1 else { throw CryptoError(.invalidKey, OpenSSLErrorQueue.drain(orElse: "keygen parameters refused")) }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else {
            throw CryptoError(.invalidKey, OpenSSLErrorQueue.drain(orElse: "key generation failed"))
        }
        return SigningKey(pkey: key, algorithm: algorithm)
    }

    /// A key from its PKCS#8 PEM (what `privateKeyPEM()` wrote). The key must fit `algorithm`.
    public static func pem(_ pem: [UInt8], algorithm: JWTAlgorithm) throws(CryptoError) -> SigningKey {
        let key: OpaquePointer? = pem.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        }
        guard let key else { throw CryptoError(.invalidKey, OpenSSLErrorQueue.drain(orElse: "not a PEM private key")) }
        let signing = SigningKey(pkey: key, algorithm: algorithm)
        switch (algorithm, PublicKeyPEM.kind(of: key)) {
        case (.es256, .ec("P-256")): return signing
        case let (.rs256, .rsa(bits)) where bits >= 2048: return signing
        case let (_, kind): throw CryptoError(.invalidKey, "a \(kind) key cannot sign \(algorithm)")
        }
    }

    /// PKCS#8 PEM of the private key. Callers store it only sealed.
    public func privateKeyPEM() throws(CryptoError) -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError(.invalidKey, "no memory BIO") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil) == 1 else {
            throw CryptoError(.invalidKey, OpenSSLErrorQueue.drain(orElse: "PEM export failed"))
        }
        var pem = [UInt8](repeating: 0, count: Int(BIO_ctrl_pending(bio)))
        let read = BIO_read(bio, &pem, Int32(pem.count))
        guard read == pem.count else { throw CryptoError(.invalidKey, "PEM export was short") }
        return pem
    }

    /// The public half as JWK members (without `kid`, `use`, `alg`): `kty` with `crv`/`x`/`y` or `n`/`e`.
    public func publicJWKMembers() throws(CryptoError) -> [(String, String)] {
        switch algorithm {
        case .es256:
            var point = [UInt8](repeating: 0, count: 65)
            var length = 0
            guard EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, &point, point.count, &length) == 1,
                  length == 65, point[0] == 0x04
            else { throw CryptoError(.invalidKey, OpenSSLErrorQueue.drain(orElse: "cannot read the EC public point")) }
            return [("kty", "EC"), ("crv", "P-256"), ("x", Base64URL.encode(point[1...32])), ("y", Base64URL.encode(point[33...64]))]
        default:
            return [("kty", "RSA"), ("n", Base64URL.encode(try bigNumber(OSSL_PKEY_PARAM_RSA_N))),
                    ("e", Base64URL.encode(try bigNumber(OSSL_PKEY_PARAM_RSA_E)))]
        }
    }

    private func bigNumber(_ name: String) throws(CryptoError) -> [UInt8] {
        var number: OpaquePointer?
        guard EVP_PKEY_get_bn_param(pkey, name, &number) == 1, let number else {
            throw CryptoError(.invalidKey, OpenSSLErrorQueue.drain(orElse: "cannot read \(name)"))
        }
        defer { BN_free(number) }
        var bytes = [UInt8](repeating: 0, count: Int((BN_num_bits(number) + 7) / 8))
        _ = BN_bn2bin(number, &bytes)
        return bytes
    }

    /// The JWS signature of `message` in JOSE form (ES256: `r ‖ s`, 64 bytes; RS256: PKCS#1 v1.5).
    public func sign(_ message: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw CryptoError(.digestFailed, "no digest context") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, FetchedDigests.shared.sha256, nil, pkey) == 1 else {
            throw CryptoError(.invalidKey, OpenSSLErrorQueue.drain(orElse: "sign init failed"))
        }
        var length = 0
        guard EVP_DigestSign(context, nil, &length, message, message.count) == 1 else {
            throw CryptoError(.invalidKey, OpenSSLErrorQueue.drain(orElse: "sign failed"))
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1 else {
            throw CryptoError(.invalidKey, OpenSSLErrorQueue.drain(orElse: "sign failed"))
        }
        signature.removeSubrange(length...)
        guard algorithm == .es256 else { return signature }
        guard let jose = Self.joseSignature(der: signature, size: 32) else {
            throw CryptoError(.invalidKey, "OpenSSL returned an ECDSA signature that is not DER")
        }
        return jose
    }

    /// DER `SEQUENCE { INTEGER r, INTEGER s }` → `r ‖ s`, each left-padded to `size` bytes.
    static func joseSignature(der: [UInt8], size: Int) -> [UInt8]? {
        var index = 0
        func length() -> Int? {
            guard index < der.count else { return nil }
            let first = der[index]; index += 1
            if first < 0x80 { return Int(first) }
            guard first == 0x81, index < der.count else { return nil }
            defer { index += 1 }
            return Int(der[index])
        }
        func integer() -> [UInt8]? {
            guard index < der.count, der[index] == 0x02 else { return nil }
            index += 1
            guard let count = length(), index + count <= der.count else { return nil }
            let value = der[index..<(index + count)].drop { $0 == 0 }
            index += count
            guard value.count <= size else { return nil }
            return [UInt8](repeating: 0, count: size - value.count) + value
        }
        guard der.first == 0x30 else { return nil }
        index = 1
        guard length() != nil, let r = integer(), let s = integer(), index == der.count else { return nil }
        return r + s
    }
}
