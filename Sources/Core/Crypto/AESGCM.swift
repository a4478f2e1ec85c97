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
