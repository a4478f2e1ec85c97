/// base64url without padding (RFC 4648 §5), as JOSE uses it. Decoding is strict: padding, white
/// space and characters of the other alphabet are refused, so one token has one spelling.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in alphabet.enumerated() { table[Int(character)] = UInt8(value) }
        return table
    }()

    /// Arrays take this path: no generic iteration across the module boundary (the control plane
    /// encodes every token it signs).
    public static func encode(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { input in
            let count = input.count
            return String(unsafeUninitializedCapacity: (count * 4 + 2) / 3) { output in
                var written = 0
                var index = 0
                while index + 3 <= count {
                    let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                    output[written] = alphabet[Int(value >> 18 & 0x3F)]
                    output[written + 1] = alphabet[Int(value >> 12 & 0x3F)]
                    output[written + 2] = alphabet[Int(value >> 6 & 0x3F)]
                    output[written + 3] = alphabet[Int(value & 0x3F)]
                    written += 4
                    index += 3
                }
                let rest = count - index
                if rest > 0 {
                    let b0 = input[index], b1: UInt8 = rest > 1 ? input[index + 1] : 0
                    output[written] = alphabet[Int(b0 >> 2)]
                    output[written + 1] = alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)]
                    written += 2
                    if rest > 1 {
                        output[written] = alphabet[Int((b1 & 0x0F) << 2)]
                        written += 1
                    }
                }
                return written
            }
        }
    }

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 4 + 2) / 3)
        var iterator = bytes.makeIterator()
        while let b0 = iterator.next() {
            let b1 = iterator.next(), b2 = iterator.next()
            output.append(alphabet[Int(b0 >> 2)])
            output.append(alphabet[Int((b0 & 0x03) << 4 | (b1 ?? 0) >> 4)])
            if let b1 { output.append(alphabet[Int((b1 & 0x0F) << 2 | (b2 ?? 0) >> 6)]) }
            if let b2 { output.append(alphabet[Int(b2 & 0x3F)]) }
        }
        return String(decoding: output, as: UTF8.self)
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        decode(bytes: Array(text.utf8))
    }

    public static func decode(bytes input: some Collection<UInt8>) -> [UInt8]? {
        // A length of 1 mod 4 cannot come from any byte string.
        guard input.count % 4 != 1 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(input.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for character in input {
            let value = decodeTable[Int(character)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero: otherwise two spellings would decode to the same bytes.
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return output
    }
}
