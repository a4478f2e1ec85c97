import NIOCore
import Core
import Testing
@testable import tollgate_proxy

/// The word-at-a-time scan for control bytes in header values must agree with the plain
/// definition (a byte below 0x20 other than TAB, or DEL) wherever the byte sits.
@Suite("Header byte scans")
struct HeaderBytesTests {
    static func reference(_ text: String) -> Bool {
        text.utf8.contains { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }
    }

    @Test("every ASCII byte at every position of values 1 to 24 bytes long, in a String and a Substring")
    func everyAsciiByteEverywhere() {
        for length in 1...24 {
            for position in 0..<length {
                for byte in UInt8(0)...UInt8(0x7F) {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = byte
                    let text = String(decoding: bytes, as: UTF8.self)
                    let expected = Self.reference(text)
                    #expect(HeaderBytes.hasControlByte(text) == expected, "length \(length), byte \(byte) at \(position)")
                    let slice = ("x" + text + "y").dropFirst().dropLast()
                    #expect(HeaderBytes.hasControlByte(slice) == expected, "substring, length \(length), byte \(byte) at \(position)")
                }
            }
        }
    }

    @Test("tabs and non-ASCII text (bytes 0x80–0xFF) are allowed; a control byte among them is found", arguments: [
        ("\t\t\t\t\t\t\t\t\t", false),
        ("héllo wörld €€€ ünïcödé", false),
        ("Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl", false),
        ("héllo wörld €€€\u{7F}ünïcödé", true),
        ("\t\t\t\t\t\t\t\t\u{01}", true),
        ("ééééé\r", true),
        ("", false),
    ])
    func mixed(_ text: String, _ expected: Bool) {
        #expect(Self.reference(text) == expected)
        #expect(HeaderBytes.hasControlByte(text) == expected)
    }

    @Test("contains(byte:) finds a space anywhere, in a String and a Substring")
    func containsByte() {
        for length in 1...20 {
            for position in 0..<length {
                var bytes = [UInt8](repeating: UInt8(ascii: "t"), count: length)
                bytes[position] = UInt8(ascii: " ")
                let text = String(decoding: bytes, as: UTF8.self)
                #expect(HeaderBytes.contains(text, byte: UInt8(ascii: " ")))
                #expect(HeaderBytes.contains(text.dropFirst(0), byte: UInt8(ascii: " ")))
            }
            #expect(!HeaderBytes.contains(String(repeating: "t", count: length), byte: UInt8(ascii: " ")))
        }
    }
}

/// `HTTPHeaderName` recognises the hop-by-hop names by length first: hold it to the list, in any
/// case, and to the names just beside them.
@Suite("Hop-by-hop names")
struct HopByHopNameTests {
    static let names = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]

    static func isHopByHop(_ name: String) -> Bool {
        // Values that every one of these names accepts, so only the name decides.
        let value = name.lowercased() == "content-length" ? "0" : name.lowercased() == "transfer-encoding" ? "chunked" : "x"
        let bytes = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n\(name): \(value)\r\n\r\n")
        var parser = HTTPHeadParser(.request)
        guard let head = try? parser.parseRequest(bytes) else { return false }
        return head.fields[1].known.isHopByHop
    }

    @Test("each listed name in lower, upper and mixed case; none of the near misses")
    func names() {
        for name in Self.names {
            #expect(Self.isHopByHop(name), "\(name)")
            #expect(Self.isHopByHop(name.uppercased()), "\(name)")
            let mixed = String(name.enumerated().map { $0.offset % 2 == 0 ? Character($0.element.uppercased()) : $0.element })
            #expect(Self.isHopByHop(mixed), "\(mixed)")
            // One byte changed, one added, one dropped: not hop-by-hop.
            #expect(!Self.isHopByHop("x" + name.dropFirst()), "\(name)")
            #expect(!Self.isHopByHop(name + "s"), "\(name)")
            #expect(!Self.isHopByHop(String(name.dropLast())), "\(name)")
        }
        for other in ["host-x", "content-length", "x-user-id", "authorization", "tf", "upgraded", "keep_alive"] {
            #expect(!Self.isHopByHop(other), "\(other)")
        }
    }
}

@Suite("Request ids")
struct RequestIDGeneratorTests {
    @Test("32 lower-case hex digits: the loop's random prefix, then the counter in hex")
    func format() {
        var generator = RequestIDGenerator()
        var prefix: Substring?
        for counter in 1...300 {
            let id = generator.next().description
            #expect(id.count == 32)
            #expect(id.utf8.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) })
            #expect(prefix == nil || id.prefix(16) == prefix!)
            prefix = id.prefix(16)
            let hex = String(counter, radix: 16)
            #expect(id.suffix(16) == String(repeating: "0", count: 16 - hex.count) + hex, "\(id)")
        }
    }
}
