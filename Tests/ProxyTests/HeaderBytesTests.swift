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
