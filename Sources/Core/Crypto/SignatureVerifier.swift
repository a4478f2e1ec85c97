internal import COpenSSL

/// Checks JWS signatures (RFC 7515/7518/8037) with OpenSSL libcrypto. One instance per event loop
/// (it is not thread-safe): it keeps, per key and algorithm, an OpenSSL context initialised once,
/// as `openssl speed` does, so a verification costs the digest and the public-key operation and
/// never an algorithm fetch (which in OpenSSL 3 goes through a locked method store).
public final class SignatureVerifier {
    private struct Slot: Hashable {
        let key: ObjectIdentifier
        /// The algorithm's position in `JWTAlgorithm.allCases`: hashing a small integer, not the
        /// enum's String raw value.
        let algorithm: Int
    }

    /// Owns one OpenSSL context and the key it was made for (so the key outlives it).
    private final class Context {
        enum Handle {
            /// RSA and ECDSA: `EVP_PKEY_verify` over a digest.
            case digestThenVerify(pkey: OpaquePointer, digest: OpaquePointer, digestLength: Int)
            /// Ed25519: one-shot `EVP_DigestVerify`.
            case oneShot(OpaquePointer)
            /// HMAC, keyed once; re-initialised per message.
            case mac(OpaquePointer, length: Int)
        }

        let key: VerificationKey
        let handle: Handle

        init(key: VerificationKey, handle: Handle) {
            self.key = key
            self.handle = handle
        }

        deinit {
            switch handle {
            case let .digestThenVerify(pkey, _, _): EVP_PKEY_CTX_free(pkey)
            case let .oneShot(context): EVP_MD_CTX_free(context)
            case let .mac(context, _): EVP_MAC_CTX_free(context)
            }
        }
    }

    /// Keys come and go with reloads and JWKS rotation; past this many contexts, start over.
    private static let maximumContexts = 256
    private var contexts: [Slot: Context] = [:]
    /// The last context used: a loop verifying one issuer's tokens skips even the dictionary hash.
    private var last: (slot: Slot, context: Context)?

    public init() {}

    /// True when `signature` is `algorithm`'s signature of `signingInput` by `key`. A key that does
    /// not fit the algorithm, a signature of the wrong length or a malformed one are all `false`.
    public func verify(
        _ algorithm: JWTAlgorithm, key: VerificationKey, signingInput: UnsafeRawBufferPointer, signature: [UInt8]
    ) -> Bool {
        guard key.fits(algorithm), let context = context(for: algorithm, key: key) else { return false }
        // Only a failure leaves errors on the thread's queue; clearing an empty queue unconditionally
        // costs ~200 ns in OpenSSL 3.0, half of an HS256 verification.
        defer { if ERR_peek_error() != 0 { ERR_clear_error() } }
        switch context.handle {
        case let .digestThenVerify(pkey, digest, digestLength):
            var hash = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            return withUnsafeMutableBytes(of: &hash) { hash -> Bool in
                let out = hash.baseAddress!.assumingMemoryBound(to: UInt8.self)
                var length: UInt32 = 0
                guard EVP_Digest(signingInput.baseAddress, signingInput.count, out, &length, digest, nil) == 1,
                      Int(length) == digestLength
                else { return false }
                if algorithm.keyKind == .ec {
                    guard let der = Self.derSignature(jose: signature, algorithm: algorithm) else { return false }
                    return EVP_PKEY_verify(pkey, der, der.count, out, digestLength) == 1
                }
                return EVP_PKEY_verify(pkey, signature, signature.count, out, digestLength) == 1
            }
        case let .oneShot(context):
            guard signature.count == 64 else { return false }
            return EVP_DigestVerify(
                context, signature, signature.count,
                signingInput.baseAddress?.assumingMemoryBound(to: UInt8.self), signingInput.count) == 1
        case let .mac(context, length):
            guard signature.count == length, EVP_MAC_init(context, nil, 0, nil) == 1,
                  EVP_MAC_update(context, signingInput.baseAddress?.assumingMemoryBound(to: UInt8.self), signingInput.count) == 1
            else { return false }
            var mac = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            return withUnsafeMutableBytes(of: &mac) { mac -> Bool in
                var written = 0
                guard EVP_MAC_final(context, mac.baseAddress!.assumingMemoryBound(to: UInt8.self), &written, mac.count) == 1,
                      written == length
                else { return false }
                return signature.withUnsafeBytes { constantTimeEquals(UnsafeRawBufferPointer(rebasing: mac[..<length]), $0) }
            }
        }
    }

    public func verify(_ algorithm: JWTAlgorithm, key: VerificationKey, signingInput: [UInt8], signature: [UInt8]) -> Bool {
        signingInput.withUnsafeBytes { verify(algorithm, key: key, signingInput: $0, signature: signature) }
    }

    // MARK: Contexts

    private func context(for algorithm: JWTAlgorithm, key: VerificationKey) -> Context? {
        let slot = Slot(key: ObjectIdentifier(key), algorithm: algorithm.ordinal)
        if let last, last.slot == slot, last.context.key === key { return last.context }
        if let context = contexts[slot], context.key === key {
            last = (slot, context)
            return context
        }
        guard let handle = Self.makeHandle(algorithm, key: key) else { return nil }
        if contexts.count >= Self.maximumContexts { contexts.removeAll(keepingCapacity: true) }
        let context = Context(key: key, handle: handle)
        contexts[slot] = context
        last = (slot, context)
        return context
    }

    private static func makeHandle(_ algorithm: JWTAlgorithm, key: VerificationKey) -> Context.Handle? {
        defer { ERR_clear_error() }
        let digest = FetchedDigests.shared.digest(for: algorithm)
        switch algorithm.keyKind {
        case .hmacSecret:
            guard let mac = FetchedDigests.shared.hmac, let context = EVP_MAC_CTX_new(mac) else { return nil }
            let name = FetchedDigests.name(for: algorithm)
            let ok = name.withCString { name -> Bool in
                var params = [
                    OSSL_PARAM_construct_utf8_string("digest", UnsafeMutablePointer(mutating: name), 0),
                    OSSL_PARAM_construct_end(),
                ]
                // An empty secret is never accepted (refused at start), but HMAC itself allows it.
                return key.secret.withUnsafeBytes { secret in
                    withUnsafeBytes(of: UInt8(0)) { empty in
                        EVP_MAC_init(
                            context, (secret.count > 0 ? secret.baseAddress! : empty.baseAddress!).assumingMemoryBound(to: UInt8.self),
                            secret.count, &params) == 1
                    }
                }
            }
            guard ok else { EVP_MAC_CTX_free(context); return nil }
            return .mac(context, length: algorithm.digestLength)
        case .ed25519:
            guard let pkey = key.pkey, let context = EVP_MD_CTX_new() else { return nil }
            guard EVP_DigestVerifyInit(context, nil, nil, nil, pkey) == 1 else { EVP_MD_CTX_free(context); return nil }
            return .oneShot(context)
        case .rsa, .ec:
            guard let pkey = key.pkey, let digest, let context = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil) else { return nil }
            var ok = EVP_PKEY_verify_init(context) == 1 && EVP_PKEY_CTX_set_signature_md(context, digest) == 1
            switch algorithm {
            case .ps256, .ps384, .ps512:
                // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
                ok = ok && EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PSS_PADDING) == 1
                    && EVP_PKEY_CTX_set_rsa_mgf1_md(context, digest) == 1
                    && EVP_PKEY_CTX_set_rsa_pss_saltlen(context, RSA_PSS_SALTLEN_DIGEST) == 1
            case .rs256, .rs384, .rs512:
                ok = ok && EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PADDING) == 1
            default:
                break
            }
            guard ok else { EVP_PKEY_CTX_free(context); return nil }
            return .digestThenVerify(pkey: context, digest: digest, digestLength: algorithm.digestLength)
        }
    }

    /// JOSE ECDSA signatures are `r || s`, each exactly the curve's size (RFC 7518 §3.4); OpenSSL
    /// wants DER. Any other length is refused (a DER signature sent as-is, for one).
    static func derSignature(jose: [UInt8], algorithm: JWTAlgorithm) -> [UInt8]? {
        let size: Int
        switch algorithm {
        case .es256: size = 32
        case .es384: size = 48
        case .es512: size = 66
        default: return nil
        }
        guard jose.count == 2 * size else { return nil }
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            var value = Array(bytes.drop { $0 == 0 })
            if value.isEmpty { value = [0] }
            if value[0] & 0x80 != 0 { value.insert(0, at: 0) }
            return [0x02] + length(value.count) + value
        }
        func length(_ count: Int) -> [UInt8] {
            count < 0x80 ? [UInt8(count)] : [0x81, UInt8(count)]
        }
        let body = integer(jose[..<size]) + integer(jose[size...])
        return [0x30] + length(body.count) + body
    }
}

@available(*, unavailable)
extension SignatureVerifier: Sendable {}

/// Digests and the HMAC implementation fetched once from OpenSSL's default provider. Explicitly
/// fetched objects are immutable and safe to share between threads; using them spares every
/// operation the implicit fetch that `EVP_sha256()` and friends cost in OpenSSL 3.
final class FetchedDigests: Sendable {
    static let shared = FetchedDigests()

    nonisolated(unsafe) let sha256: OpaquePointer?
    nonisolated(unsafe) let sha384: OpaquePointer?
    nonisolated(unsafe) let sha512: OpaquePointer?
    nonisolated(unsafe) let hmac: OpaquePointer?

    private init() {
        sha256 = EVP_MD_fetch(nil, "SHA256", nil)
        sha384 = EVP_MD_fetch(nil, "SHA384", nil)
        sha512 = EVP_MD_fetch(nil, "SHA512", nil)
        hmac = EVP_MAC_fetch(nil, "HMAC", nil)
    }

    func digest(for algorithm: JWTAlgorithm) -> OpaquePointer? {
        switch algorithm.digestLength {
        case 32: sha256
        case 48: sha384
        default: sha512
        }
    }

    static func name(for algorithm: JWTAlgorithm) -> String {
        switch algorithm.digestLength {
        case 32: "SHA256"
        case 48: "SHA384"
        default: "SHA512"
        }
    }
}

extension JWTAlgorithm {
    var ordinal: Int {
        switch self {
        case .hs256: 0
        case .hs384: 1
        case .hs512: 2
        case .rs256: 3
        case .rs384: 4
        case .rs512: 5
        case .ps256: 6
        case .ps384: 7
        case .ps512: 8
        case .es256: 9
        case .es384: 10
        case .es512: 11
        case .edDSA: 12
        }
    }

    /// Output length of the algorithm's hash (EdDSA: SHA-512 inside Ed25519).
    var digestLength: Int {
        switch self {
        case .hs256, .rs256, .ps256, .es256: 32
        case .hs384, .rs384, .ps384, .es384: 48
        case .hs512, .rs512, .ps512, .es512, .edDSA: 64
        }
    }
}
