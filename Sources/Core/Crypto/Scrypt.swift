import Foundation
internal import COpenSSL

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
