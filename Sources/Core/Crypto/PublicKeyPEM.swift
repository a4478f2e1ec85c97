internal import COpenSSL

/// What a PEM file holds, as far as choosing JWT algorithms goes. Used to validate key files when a
/// policy set loads (the verifier itself imports keys in the Auth layer).
public enum PublicKeyPEM {
    public enum Kind: Sendable, Hashable, CustomStringConvertible {
        case rsa(bits: Int)
        /// With the JOSE curve name (`P-256`, `P-384`, `P-521`) or OpenSSL's for other curves.
        case ec(curve: String)
        case ed25519
        case other(String)

        public var description: String {
            switch self {
            case let .rsa(bits): "RSA-\(bits)"
            case let .ec(curve): "EC \(curve)"
            case .ed25519: "Ed25519"
            case let .other(name): name
            }
        }
    }

    public enum Inspection: Sendable, Hashable {
        case publicKey(Kind)
        /// The file holds a private key: never deploy private keys to a verifier.
        case privateKey
        case notAPublicKey
    }

    public static func inspect(_ pem: [UInt8]) -> Inspection {
        defer { ERR_clear_error() }
        if let key = readKey(pem, PEM_read_bio_PUBKEY) {
            defer { EVP_PKEY_free(key) }
            return .publicKey(kind(of: key))
        }
        if let key = readKey(pem, PEM_read_bio_PrivateKey) {
            EVP_PKEY_free(key)
            return .privateKey
        }
        return .notAPublicKey
    }

    private typealias Reader = (
        OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?, (@convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32)?,
        UnsafeMutableRawPointer?
    ) -> OpaquePointer?

    private static func readKey(_ pem: [UInt8], _ read: Reader) -> OpaquePointer? {
        pem.withUnsafeBytes { bytes -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            // A passphrase callback that refuses: an encrypted key must never prompt on a terminal.
            return read(bio, nil, { _, _, _, _ in 0 }, nil)
        }
    }

    static func kind(of key: OpaquePointer) -> Kind {
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA, EVP_PKEY_RSA_PSS:
            return .rsa(bits: Int(EVP_PKEY_get_bits(key)))
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 else { return .ec(curve: "unknown") }
            let openSSLName = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            switch openSSLName {
            case "prime256v1", "P-256": return .ec(curve: "P-256")
            case "secp384r1", "P-384": return .ec(curve: "P-384")
            case "secp521r1", "P-521": return .ec(curve: "P-521")
            default: return .ec(curve: openSSLName)
            }
        case EVP_PKEY_ED25519:
            return .ed25519
        default:
            return .other(String(cString: OBJ_nid2sn(EVP_PKEY_get_base_id(key))))
        }
    }
}
