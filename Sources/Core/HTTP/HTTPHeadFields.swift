import NIOCore

/// Reading field values of a parsed head: `bytes` is the buffer the head was parsed from, its
/// reader index at the head's first byte. Strings are made only for what the caller asks.
extension HTTPHead {
    /// The value of the first field the sidecar knows by `name`, as a `String`.
    public func firstValue(_ name: HTTPHeaderName, in bytes: ByteBuffer) -> String? {
        firstIndex(of: name).map { bytes.string(of: fields[$0].value) }
    }

    /// Every value of the fields named `lowercasedName` joined with `", "` (as Envoy's header
    /// matchers see them), or nil when there is none.
    public func joinedValues(ofLowercased lowercasedName: String, in bytes: ByteBuffer) -> String? {
        let known = Self.knownName(lowercasedName)
        var joined: String?
        var name = lowercasedName
        name.withUTF8 { wanted in
            bytes.withUnsafeReadableBytes { raw in
                for field in fields {
                    if known != .other {
                        guard field.known == known else { continue }
                    } else {
                        guard field.known == .other, field.name.count == wanted.count,
                            ASCII.equalsLowercased(UnsafeRawBufferPointer(rebasing: raw[field.name.range]), UnsafeRawBufferPointer(wanted))
                        else { continue }
                    }
                    let value = String(decoding: UnsafeRawBufferPointer(rebasing: raw[field.value.range]), as: UTF8.self)
                    joined = joined.map { $0 + ", " + value } ?? value
                }
            }
        }
        return joined
    }

    /// Every value of the fields the sidecar knows by `name`, in order.
    public func values(_ name: HTTPHeaderName, in bytes: ByteBuffer) -> [String] {
        var values: [String] = []
        for field in fields where field.known == name { values.append(bytes.string(of: field.value)) }
        return values
    }

    /// Whether a `name` field's comma-separated list holds `token` (any case): `Connection: close`,
    /// `Expect: 100-continue`.
    public func hasToken(_ token: StaticString, in name: HTTPHeaderName, bytes: ByteBuffer) -> Bool {
        guard firstIndex(of: name) != nil else { return false }
        return bytes.withUnsafeReadableBytes { raw in
            var found = false
            for field in fields where field.known == name && !found {
                HTTPHeadSplice.forEachListElement(UnsafeRawBufferPointer(rebasing: raw[field.value.range])) { element in
                    if ASCII.equalsLowercased(element, token) { found = true }
                }
            }
            return found
        }
    }

    /// Whether the peer keeps the connection after this message (RFC 9112 §9.3): HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    public func isKeepAlive(in bytes: ByteBuffer) -> Bool {
        if minorVersion == 0 { return hasToken("keep-alive", in: .connection, bytes: bytes) }
        return !hasToken("close", in: .connection, bytes: bytes)
    }

    /// A request to switch protocols: `Upgrade` and `Connection: upgrade`.
    public func isUpgradeRequest(in bytes: ByteBuffer) -> Bool {
        firstIndex(of: .upgrade) != nil && hasToken("upgrade", in: .connection, bytes: bytes)
    }

    private static func knownName(_ lowercasedName: String) -> HTTPHeaderName {
        var name = lowercasedName
        return name.withUTF8 { HTTPHeaderName.classify(UnsafeRawBufferPointer($0)) }
    }
}
