import Foundation
internal import COpenSSL

/// HMAC (RFC 2104) by OpenSSL libcrypto: HS256/384/512 tokens, blind indexes, cache keys.
public enum HMAC {
    public static func authenticationCode(
        _ algorithm: DigestAlgorithm, key: some ContiguousBytes, message: some ContiguousBytes
    ) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: algorithm.byteCount)
        var length: UInt32 = 0
        let result = key.withUnsafeBytes { key in
            message.withUnsafeBytes { message in
                // An empty key is legal HMAC; OpenSSL wants a non-null pointer for it.
                withUnsafeBytes(of: UInt8(0)) { empty in
                    COpenSSL.HMAC(
                        algorithm.evpMD,
                        key.count > 0 ? key.baseAddress : empty.baseAddress, Int32(key.count),
                        message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count,
                        &output, &length)
                }
            }
        }
        precondition(result != nil, "HMAC: \(OpenSSLErrorQueue.drain(orElse: "failed"))")
        return output
    }

    /// Checks a received MAC against the expected one in constant time.
    public static func isValid(
        _ mac: some ContiguousBytes, for message: some ContiguousBytes,
        key: some ContiguousBytes, algorithm: DigestAlgorithm
    ) -> Bool {
        constantTimeEquals(authenticationCode(algorithm, key: key, message: message), mac)
    }
}
