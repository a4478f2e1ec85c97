/// MurmurHash3 x86_32 (Austin Appleby's reference `MurmurHash3_x86_32`), the function flag
/// bucketing is defined by: the control plane and every sidecar must place a subject in the same
/// bucket, so this must match the reference bit for bit (tested against `mmh3`).
public enum Murmur3 {
    public static func x86_32(_ bytes: some Collection<UInt8>, seed: UInt32 = 0) -> UInt32 {
        let c1: UInt32 = 0xcc9e_2d51
        let c2: UInt32 = 0x1b87_3593
        var h1 = seed
        var index = bytes.startIndex
        var remaining = bytes.count

        while remaining >= 4 {
            var k1 = UInt32(bytes[index])
            index = bytes.index(after: index)
            k1 |= UInt32(bytes[index]) << 8
            index = bytes.index(after: index)
            k1 |= UInt32(bytes[index]) << 16
            index = bytes.index(after: index)
            k1 |= UInt32(bytes[index]) << 24
            index = bytes.index(after: index)
            remaining -= 4

            k1 &*= c1
            k1 = (k1 << 15) | (k1 >> 17)
            k1 &*= c2
            h1 ^= k1
            h1 = (h1 << 13) | (h1 >> 19)
            h1 = h1 &* 5 &+ 0xe654_6b64
        }

        var k1: UInt32 = 0
        var tail: [UInt8] = []
        while index != bytes.endIndex {
            tail.append(bytes[index])
            index = bytes.index(after: index)
        }
        if tail.count >= 3 { k1 ^= UInt32(tail[2]) << 16 }
        if tail.count >= 2 { k1 ^= UInt32(tail[1]) << 8 }
        if tail.count >= 1 {
            k1 ^= UInt32(tail[0])
            k1 &*= c1
            k1 = (k1 << 15) | (k1 >> 17)
            k1 &*= c2
            h1 ^= k1
        }

        h1 ^= UInt32(truncatingIfNeeded: bytes.count)
        h1 ^= h1 >> 16
        h1 &*= 0x85eb_ca6b
        h1 ^= h1 >> 13
        h1 &*= 0xc2b2_ae35
        h1 ^= h1 >> 16
        return h1
    }

    public static func x86_32(_ string: String, seed: UInt32 = 0) -> UInt32 {
        x86_32(string.utf8, seed: seed)
    }
}
