/// JSON to write: JWT claims and headers the control plane signs, and its API responses. Objects
/// keep their members in the order given, so output is stable and reads the way the code lists it.
/// `.raw` embeds text that is already JSON (a stored document) without reparsing it.
public indirect enum JSONOutput: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONOutput])
    case object([(String, JSONOutput)])
    case raw(String)

    public static func == (lhs: JSONOutput, rhs: JSONOutput) -> Bool { lhs.serialized() == rhs.serialized() }
    public func hash(into hasher: inout Hasher) { hasher.combine(serialized()) }

    public func serialized() -> String {
        String(decoding: utf8(), as: UTF8.self)
    }

    /// The serialized bytes (what a response body or a JWS part needs).
    public func utf8() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        write(to: &output)
        return output
    }

    public func write(to output: inout [UInt8]) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case let .bool(value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case let .int(value): output.append(contentsOf: String(value).utf8)
        case let .double(value):
            // JSON has no NaN or infinity; integral values print without a fraction.
            if !value.isFinite { output.append(contentsOf: "null".utf8) }
            else if value == value.rounded(), abs(value) < 1e15 { output.append(contentsOf: String(Int64(value)).utf8) }
            else { output.append(contentsOf: String(value).utf8) }
        case let .string(value): Self.writeString(value, to: &output)
        case let .array(items):
            output.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                item.write(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case let .object(members):
            output.append(UInt8(ascii: "{"))
            for (index, (name, value)) in members.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                Self.writeString(name, to: &output)
                output.append(UInt8(ascii: ":"))
                value.write(to: &output)
            }
            output.append(UInt8(ascii: "}"))
        case let .raw(text): output.append(contentsOf: text.utf8)
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\t`… or `\u00XX`. Works
    /// on UTF-8 bytes; everything else is copied as it is (Swift strings are valid UTF-8).
    public static func writeString(_ value: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                           hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}

extension JSONOutput: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONOutput...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONOutput {
    /// A parsed value written back (object members sorted by name; numbers as they were written).
    public init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case let .bool(flag): self = .bool(flag)
        case let .number(text, _): self = .raw(text)
        case let .string(text): self = .string(text)
        case let .array(items): self = .array(items.map(JSONOutput.init))
        case let .object(members): self = .object(members.sorted { $0.key < $1.key }.map { ($0.key, JSONOutput($0.value)) })
        }
    }

    public static func strings(_ values: some Sequence<String>) -> JSONOutput { .array(values.map { .string($0) }) }
    public static func optional(_ value: String?) -> JSONOutput { value.map { .string($0) } ?? .null }
}
