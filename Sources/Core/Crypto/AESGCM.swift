import Foundation
internal import COpenSSL

/// AES-256-GCM by OpenSSL libcrypto: the control plane's field encryption and key wrapping
/// (spec/control.md: PII encrypted at rest under data keys wrapped by the master key).
public enum AESGCM {
    public static let keyBytes = 32
    public static let nonceBytes = 12
    public static let tagBytes = 16

    public struct Sealed: Sendable, Hashable {
        public let nonce: [UInt8]
        public let ciphertext: [UInt8]
        public let tag: [UInt8]

        public init(nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8]) {
            self.nonce = nonce
            self.ciphertext = ciphertext
            self.tag = tag
        }
    }

    /// Encrypts with a fresh random nonce (or the given one: tests only; never reuse a nonce).
    public static func seal(
        _ plaintext: [UInt8], key: [UInt8], aad: [UInt8] = [], nonce givenNonce: [UInt8]? = nil
    ) throws(CryptoError) -> Sealed {
        guard key.count == keyBytes else { throw CryptoError(.invalidKey, "AES-256-GCM needs a 32-byte key") }
        let nonce: [UInt8]
        if let givenNonce { nonce = givenNonce } else { nonce = try SecureRandom.bytes(nonceBytes) }
        guard nonce.count == nonceBytes else { throw CryptoError(.invalidKey, "AES-256-GCM needs a 12-byte nonce") }
        guard let context = EVP_CIPHER_CTX_new() else { throw CryptoError(.cipherFailed, "out of memory") }
        defer { EVP_CIPHER_CTX_free(context) }
        defer { if ERR_peek_error() != 0 { ERR_clear_error() } }
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count + 16)
        var tag = [UInt8](repeating: 0, count: tagBytes)
        var length: Int32 = 0
        var total = 0
        guard EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1,
              EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonceBytes), nil) == 1,
              EVP_EncryptInit_ex(context, nil, nil, key, nonce) == 1,
              aad.isEmpty || EVP_EncryptUpdate(context, nil, &length, aad, Int32(aad.count)) == 1,
              EVP_EncryptUpdate(context, &ciphertext, &length, plaintext, Int32(plaintext.count)) == 1
        else { throw CryptoError(.cipherFailed, OpenSSLErrorQueue.drain(orElse: "AES-256-GCM encryption failed")) }
        total = Int(length)
        let finished = ciphertext.withUnsafeMutableBufferPointer { buffer in
            EVP_EncryptFinal_ex(context, buffer.baseAddress! + total, &length)
        }
        guard finished == 1, EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagBytes), &tag) == 1 else {
            throw CryptoError(.cipherFailed, OpenSSLErrorQueue.drain(orElse: "AES-256-GCM encryption failed"))
        }
        total += Int(length)
        return Sealed(nonce: nonce, ciphertext: Array(ciphertext.prefix(total)), tag: tag)
    }

    /// Decrypts and authenticates; a wrong key, tag, nonce or AAD is `.authenticationFailed`.
    public static func open(_ sealed: Sealed, key: [UInt8], aad: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        guard key.count == keyBytes else { throw CryptoError(.invalidKey, "AES-256-GCM needs a 32-byte key") }
        guard sealed.nonce.count == nonceBytes, sealed.tag.count == tagBytes else {
            throw CryptoError(.authenticationFailed, "malformed sealed value")
        }
        guard let context = EVP_CIPHER_CTX_new() else { throw CryptoError(.cipherFailed, "out of memory") }
        defer { EVP_CIPHER_CTX_free(context) }
        defer { if ERR_peek_error() != 0 { ERR_clear_error() } }
        var plaintext = [UInt8](repeating: 0, count: sealed.ciphertext.count + 16)
        var length: Int32 = 0
        var tag = sealed.tag
        guard EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1,
              EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonceBytes), nil) == 1,
              EVP_DecryptInit_ex(context, nil, nil, key, sealed.nonce) == 1,
              aad.isEmpty || EVP_DecryptUpdate(context, nil, &length, aad, Int32(aad.count)) == 1,
              EVP_DecryptUpdate(context, &plaintext, &length, sealed.ciphertext, Int32(sealed.ciphertext.count)) == 1,
              EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagBytes), &tag) == 1
        else { throw CryptoError(.cipherFailed, OpenSSLErrorQueue.drain(orElse: "AES-256-GCM decryption failed")) }
        let total = Int(length)
        let finished = plaintext.withUnsafeMutableBufferPointer { buffer in
            EVP_DecryptFinal_ex(context, buffer.baseAddress! + total, &length)
        }
        guard finished == 1 else { throw CryptoError(.authenticationFailed, "the value does not authenticate under this key") }
        return Array(plaintext.prefix(total + Int(length)))
    }
}

/// scrypt (RFC 7914) by OpenSSL: password hashing for the control plane's users. Encoded in the PHC
/// string format, `$scrypt$ln=17,r=8,p=1$<salt>$<hash>` (base64 without padding), so the parameters
/// travel with each hash and can be raised later without invalidating old ones.
public enum Scrypt {
    public struct Parameters: Sendable, Hashable {
        /// log2 of the CPU/memory cost N.
        public let logN: Int
        public let r: Int
        public let p: Int

        public init(logN: Int, r: Int, p: Int) {
            self.logN = logN
            self.r = r
            self.p = p
        }

        /// OWASP's recommendation (Password Storage Cheat Sheet): N = 2^17, r = 8, p = 1 (128 MiB).
        public static let owasp = Parameters(logN: 17, r: 8, p: 1)

        var memoryBytes: UInt64 { (UInt64(1) << UInt64(logN)) * UInt64(r) * 128 * UInt64(max(p, 1)) }
    }

    public static func derive(
        password: [UInt8], salt: [UInt8], parameters: Parameters, length: Int = 32
    ) throws(CryptoError) -> [UInt8] {
        guard (1...22).contains(parameters.logN), (1...32).contains(parameters.r), (1...16).contains(parameters.p) else {
            throw CryptoError(.invalidKey, "scrypt parameters out of range")
        }
        var output = [UInt8](repeating: 0, count: length)
        // OpenSSL wants a non-null pointer even for an empty password.
        let ok = (password.isEmpty ? [0] : password).withUnsafeBytes { passwordBytes in
            EVP_PBE_scrypt(
                passwordBytes.baseAddress!.assumingMemoryBound(to: CChar.self), password.count,
                salt, salt.count, UInt64(1) << UInt64(parameters.logN), UInt64(parameters.r), UInt64(parameters.p),
                parameters.memoryBytes + (1 << 20), &output, length) == 1
        }
        guard ok else { throw CryptoError(.digestFailed, OpenSSLErrorQueue.drain(orElse: "scrypt failed")) }
        return output
    }

    public static func hash(_ password: String, parameters: Parameters = .owasp) throws(CryptoError) -> String {
        let salt = try SecureRandom.bytes(16)
        let derived = try derive(password: Array(password.utf8), salt: salt, parameters: parameters)
        return "$scrypt$ln=\(parameters.logN),r=\(parameters.r),p=\(parameters.p)$\(base64(salt))$\(base64(derived))"
    }

    /// True when `password` matches `encoded`; false for a wrong password or a malformed string.
    public static func verify(_ password: String, encoded: String) -> Bool {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "scrypt" else { return false }
        var values: [String: Int] = [:]
        for field in parts[2].split(separator: ",") {
            let pair = field.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let value = Int(pair[1]) else { return false }
            values[String(pair[0])] = value
        }
        guard let logN = values["ln"], let r = values["r"], let p = values["p"],
              let salt = unbase64(parts[3]), let expected = unbase64(parts[4]), !expected.isEmpty,
              let derived = try? derive(
                  password: Array(password.utf8), salt: salt, parameters: Parameters(logN: logN, r: r, p: p), length: expected.count)
        else { return false }
        return constantTimeEquals(derived, expected)
    }

    /// Standard base64 without padding (PHC).
    static func base64(_ bytes: [UInt8]) -> String {
        Base64URL.encode(bytes).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    }

    static func unbase64(_ text: Substring) -> [UInt8]? {
        guard !text.contains("-"), !text.contains("_") else { return nil }
        return Base64URL.decode(text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"))
    }
}
