import Foundation
internal import COpenSSL

/// Compares secrets (MACs, hashed client secrets, tokens) without leaking, through timing, how many
/// leading bytes matched. Lengths are not secret: a length mismatch returns false at once.
public func constantTimeEquals(_ lhs: some ContiguousBytes, _ rhs: some ContiguousBytes) -> Bool {
    lhs.withUnsafeBytes { a in
        rhs.withUnsafeBytes { b in
            guard a.count == b.count else { return false }
            guard a.count > 0 else { return true }
            return CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0
        }
    }
}
