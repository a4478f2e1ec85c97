import Testing

@testable import Core

@Suite("hiredis command formatting")
struct RESPCommandTests {
    @Test("formats a command as a RESP array of bulk strings")
    func format() {
        #expect(String(decoding: RESPCommand.format("SET", "key", "value"), as: UTF8.self)
            == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")
    }

    @Test("arguments are binary-safe: NUL, CRLF and empty arguments keep their length")
    func binarySafe() {
        let bytes = RESPCommand.format([Array("ECHO".utf8), [0x00, 0x0D, 0x0A], []])
        #expect(bytes == Array("*3\r\n$4\r\nECHO\r\n$3\r\n".utf8) + [0x00, 0x0D, 0x0A] + Array("\r\n$0\r\n\r\n".utf8))
    }
}
