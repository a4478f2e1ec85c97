import Foundation
internal import COpenSSL

/// The hash functions Tollgate uses, computed by OpenSSL libcrypto.
public enum DigestAlgorithm: Sendable, Hashable, CaseIterable {
    case sha256, sha384, sha512

    /// Output length in bytes.
    public var byteCount: Int {
        switch self {
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }

    /// OpenSSL's static method table; never freed.
    var evpMD: OpaquePointer {
        switch self {
        case .sha256: EVP_sha256()
        case .sha384: EVP_sha384()
        case .sha512: EVP_sha512()
        }
    }
}

public enum Digest {
    /// One-shot hash of `bytes`.
    public static func hash(_ algorithm: DigestAlgorithm, _ bytes: some ContiguousBytes) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: algorithm.byteCount)
        let ok = bytes.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out in
                var length: UInt32 = 0
                return EVP_Digest(
                    input.baseAddress, input.count,
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length,
                    algorithm.evpMD, nil) == 1
            }
        }
        // EVP_Digest with a built-in algorithm fails only when memory runs out.
        precondition(ok, "EVP_Digest: \(OpenSSLErrorQueue.drain(orElse: "failed"))")
        return output
    }

    public static func sha256(_ bytes: some ContiguousBytes) -> [UInt8] {
        hash(.sha256, bytes)
    }

    public static func sha256(_ string: String) -> [UInt8] {
        hash(.sha256, Array(string.utf8))
    }
}

/// Incremental SHA-256 over several inputs, e.g. every file of a policy set.
/// Non-copyable: it owns an OpenSSL context that is freed exactly once.
public struct SHA256Hasher: ~Copyable {
    private let context: OpaquePointer

    public init() {
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            preconditionFailure("EVP_DigestInit_ex: \(OpenSSLErrorQueue.drain(orElse: "out of memory"))")
        }
        self.context = context
    }

    public mutating func update(_ bytes: some ContiguousBytes) {
        let ok = bytes.withUnsafeBytes { EVP_DigestUpdate(context, $0.baseAddress, $0.count) == 1 }
        precondition(ok, "EVP_DigestUpdate failed")
    }

    public mutating func update(_ string: String) {
        update(Array(string.utf8))
    }

    public consuming func finalize() -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = EVP_DigestFinal_ex(context, &output, &length) == 1
        precondition(ok, "EVP_DigestFinal_ex failed")
        return output
    }

    deinit {
        EVP_MD_CTX_free(context)
    }
}
