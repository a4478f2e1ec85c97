import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

enum FormDecoding {
    static func parameters(_ text: some StringProtocol) throws -> [String: String] {
        var parameters: [String: String] = [:]
        for pair in text.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(bytes: parts[0]), let value = parts.count > 1 ? decode(bytes: parts[1]) : "" else {
                throw OAuthError.invalidRequest("a parameter is not valid percent-encoding")
            }
            guard parameters[name] == nil else { throw OAuthError.invalidRequest("parameter \(HeaderText.quotable(name)) is sent twice") }
            parameters[name] = value
        }
        return parameters
    }

    static func decode(_ text: some StringProtocol) -> String? {
        decode(bytes: text.utf8)
    }

    /// `application/x-www-form-urlencoded` value: `+` is a space, `%XX` a byte; the result must be UTF-8.
    static func decode(bytes: some Collection<UInt8>) -> String? {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                let high = bytes.index(after: index)
                guard high != bytes.endIndex else { return nil }
                let low = bytes.index(after: high)
                guard low != bytes.endIndex, let h = hexValue(bytes[high]), let l = hexValue(bytes[low]) else { return nil }
                output.append(h << 4 | l)
                index = bytes.index(after: low)
                continue
            }
            output.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            index = bytes.index(after: index)
        }
        return String(validating: output, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
