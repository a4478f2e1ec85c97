// --direct: the OpenSSL calls SignatureVerifier makes for one verification, made straight from a
// loop, with everything around them left out (context lookup, key/algorithm checks, the JOSE → DER
// conversion, which is done once here, and ERR_clear_error). The difference between --sig and
// --direct is the wrapper's cost; between --direct and `openssl speed`, what the JWS algorithm costs
// beyond openssl speed's test (hashing the signing input, PSS decoding, DigestInfo, message length).

import BenchSupport
import CBenchOpenSSL
import Core
import Foundation

final class DirectVerifier {
    private enum Handle {
        case digestThenVerify(context: OpaquePointer, digest: OpaquePointer, length: Int)
        case oneShot(OpaquePointer)
        case mac(OpaquePointer, length: Int)
    }

    private let handle: Handle
    private let input: [UInt8]
    private let signature: [UInt8]

    init(_ algorithm: JWTAlgorithm) {
        let parts = SignedParts(Fixtures.validToken(algorithm))
        input = parts.signingInput
        let digestName: String = switch algorithm {
        case .hs256, .rs256, .ps256, .es256: "SHA256"
        case .hs384, .rs384, .ps384, .es384: "SHA384"
        default: "SHA512"
        }
        let digestLength = algorithm == .edDSA ? 64 : Int(digestName.dropFirst(3))! / 8
        switch algorithm.keyKind {
        case .hmacSecret:
            let secret = Array(Fixtures.environment["TOLLGATE_CONFORMANCE_SECRET", default: ""].utf8)
            guard let mac = EVP_MAC_fetch(nil, "HMAC", nil), let context = EVP_MAC_CTX_new(mac) else { fail("HMAC fetch") }
            let ok = digestName.withCString { name -> Bool in
                var params = [
                    OSSL_PARAM_construct_utf8_string("digest", UnsafeMutablePointer(mutating: name), 0),
                    OSSL_PARAM_construct_end(),
                ]
                return EVP_MAC_init(context, secret, secret.count, &params) == 1
            }
            guard ok else { fail("EVP_MAC_init") }
            handle = .mac(context, length: digestLength)
            signature = parts.signature
        case .ed25519:
            let pkey = Self.pemKey("ed25519.pem")
            guard let context = EVP_MD_CTX_new(), EVP_DigestVerifyInit(context, nil, nil, nil, pkey) == 1 else { fail("EVP_DigestVerifyInit") }
            handle = .oneShot(context)
            signature = parts.signature
        case .rsa, .ec:
            let pkey = algorithm.keyKind == .rsa ? Self.pemKey("rsa.pem") : Self.ecKey(algorithm)
            guard let digest = EVP_MD_fetch(nil, digestName, nil), let context = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil),
                  EVP_PKEY_verify_init(context) == 1, EVP_PKEY_CTX_set_signature_md(context, digest) == 1
            else { fail("EVP_PKEY_verify_init") }
            switch algorithm {
            case .ps256, .ps384, .ps512:
                guard EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PSS_PADDING) == 1,
                      EVP_PKEY_CTX_set_rsa_mgf1_md(context, digest) == 1,
                      EVP_PKEY_CTX_set_rsa_pss_saltlen(context, RSA_PSS_SALTLEN_DIGEST) == 1
                else { fail("PSS parameters") }
            case .rs256, .rs384, .rs512:
                guard EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PADDING) == 1 else { fail("PKCS#1 padding") }
            default: break
            }
            handle = .digestThenVerify(context: context, digest: digest, length: digestLength)
            signature = algorithm.keyKind == .ec ? Self.der(jose: parts.signature) : parts.signature
        }
        // Same answers as SignatureVerifier, on a reused context: good, bad, good.
        var tampered = signature
        tampered[tampered.count / 2] ^= 0x01
        guard verify(), !verify(signature: tampered), verify() else { fail("--direct \(algorithm): wrong answers") }
        ERR_clear_error()
    }

    func verify() -> Bool { verify(signature: signature) }

    private func verify(signature: [UInt8]) -> Bool {
        switch handle {
        case let .digestThenVerify(context, digest, length):
            // On the stack, as in SignatureVerifier.
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { hash in
                var written: UInt32 = 0
                return EVP_Digest(input, input.count, hash.baseAddress, &written, digest, nil) == 1
                    && EVP_PKEY_verify(context, signature, signature.count, hash.baseAddress, length) == 1
            }
        case let .oneShot(context):
            return EVP_DigestVerify(context, signature, signature.count, input, input.count) == 1
        case let .mac(context, length):
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { mac in
                var written = 0
                return EVP_MAC_init(context, nil, 0, nil) == 1 && EVP_MAC_update(context, input, input.count) == 1
                    && EVP_MAC_final(context, mac.baseAddress, &written, mac.count) == 1 && written == length
                    && CRYPTO_memcmp(mac.baseAddress, signature, length) == 0
            }
        }
    }

    private static func pemKey(_ name: String) -> OpaquePointer {
        let pem = Array(FileManager.default.contents(atPath: Fixtures.jwtDirectory + "/policies/keys/" + name) ?? Data())
        let key = pem.withUnsafeBytes { bytes -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let key else { fail("no public key in \(name)") }
        return key
    }

    /// The fixture EC key (JWK by kid) as SubjectPublicKeyInfo DER: a fixed prefix per curve, then 04 || x || y.
    private static func ecKey(_ algorithm: JWTAlgorithm) -> OpaquePointer {
        let (kid, prefixHex): (String, String) = switch algorithm {
        case .es256: ("p256", "3059301306072a8648ce3d020106082a8648ce3d030107034200")
        case .es384: ("p384", "3076301006072a8648ce3d020106052b81040022036200")
        default: ("p521", "30819b301006072a8648ce3d020106052b8104002303818600")
        }
        guard let data = FileManager.default.contents(atPath: Fixtures.jwtDirectory + "/policies/keys/ec-jwks.json"),
              let jwks = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let keys = jwks["keys"] as? [[String: Any]],
              let jwk = keys.first(where: { $0["kid"] as? String == kid }),
              let x = (jwk["x"] as? String).flatMap({ Base64URL.decode($0) }),
              let y = (jwk["y"] as? String).flatMap({ Base64URL.decode($0) })
        else { fail("ec-jwks.json: no key \(kid)") }
        var prefix: [UInt8] = []
        var hex = Substring(prefixHex)
        while !hex.isEmpty { prefix.append(UInt8(hex.prefix(2), radix: 16)!); hex = hex.dropFirst(2) }
        let der = prefix + [0x04] + x + y
        let key = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PUBKEY(nil, &pointer, buffer.count)
        }
        guard let key else { fail("EC key \(kid) rejected") }
        return key
    }

    /// JOSE r || s → DER SEQUENCE { INTEGER r, INTEGER s }.
    private static func der(jose: [UInt8]) -> [UInt8] {
        let size = jose.count / 2
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            var value = Array(bytes.drop { $0 == 0 })
            if value.isEmpty { value = [0] }
            if value[0] & 0x80 != 0 { value.insert(0, at: 0) }
            return [0x02] + length(value.count) + value
        }
        func length(_ count: Int) -> [UInt8] { count < 0x80 ? [UInt8(count)] : [0x81, UInt8(count)] }
        let body = integer(jose[..<size]) + integer(jose[size...])
        return [0x30] + length(body.count) + body
    }
}
