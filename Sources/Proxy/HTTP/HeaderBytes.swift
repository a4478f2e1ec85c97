/// Byte scans of header text on the request path. A bearer token makes one header value ~600
/// bytes; a loop over `String.UTF8View` costs several times one over the contiguous bytes
/// (perf: ~1 µs of the JWT route's cost per request went to two such scans).
enum HeaderBytes {
    /// A control character other than HTAB, or DEL: not allowed in a field value (RFC 9110 §5.5).
    static func hasControlByte(_ text: some StringProtocol) -> Bool {
        if let found = text.utf8.withContiguousStorageIfAvailable({ bytes in
            // Eight bytes at a time: skip words with no byte below 0x20 and no 0x7F (exact
            // "has less than" / "has zero" bit tests); look closer only at the rare others (a TAB).
            let raw = UnsafeRawBufferPointer(bytes)
            var offset = 0
            while offset + 8 <= raw.count {
                let word = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                let below20 = (word &- 0x2020_2020_2020_2020) & ~word & 0x8080_8080_8080_8080
                let del = word ^ 0x7F7F_7F7F_7F7F_7F7F
                let hasDel = (del &- 0x0101_0101_0101_0101) & ~del & 0x8080_8080_8080_8080
                if below20 | hasDel != 0, raw[offset..<offset + 8].contains(where: isControl) { return true }
                offset += 8
            }
            return raw[offset...].contains(where: isControl)
        }) {
            return found
        }
        return text.utf8.contains(where: isControl)
    }

    private static func isControl(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != 0x09) || byte == 0x7F
    }

    static func contains(_ text: some StringProtocol, byte: UInt8) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { $0.contains(byte) } ?? text.utf8.contains(byte)
    }
}
