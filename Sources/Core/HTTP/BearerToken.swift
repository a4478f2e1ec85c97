/// `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110 §11.1):
/// the one parser the sidecar and the control plane share. Spaces around the token are allowed, a
/// space inside it is not (RFC 6750's b64token has none), so `Bearer a b` carries no token at all
/// rather than one that could be read two ways.
public enum BearerToken {
    /// The token of a header value, or nil when the value is not one Bearer token. Inlinable: the
    /// sidecar calls it on every authenticated request.
    @inlinable
    public static func parse(_ value: String) -> Substring? {
        let utf8 = value.utf8
        guard utf8.count > 7 else { return nil }
        // ASCII case-insensitive compare without allocating a lower-cased copy.
        guard zip(utf8.prefix(6), "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 }) else { return nil }
        var rest = value.dropFirst(6)
        guard rest.first == " " else { return nil }
        while rest.first == " " { rest = rest.dropFirst() }
        while rest.last == " " { rest = rest.dropLast() }
        // A byte search: `contains(" ")` on a Substring would be Foundation's locale-aware string search.
        let space = UInt8(ascii: " ")
        let hasSpace = rest.utf8.withContiguousStorageIfAvailable { $0.contains(space) } ?? rest.utf8.contains(space)
        guard !rest.isEmpty, !hasSpace else { return nil }
        return rest
    }
}
