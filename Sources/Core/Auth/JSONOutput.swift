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
        var output = ""
        write(to: &output)
        return output
    }

    public func write(to output: inout String) {
        switch self {
        case .null: output += "null"
        case let .bool(value): output += value ? "true" : "false"
        case let .int(value): output += String(value)
        case let .double(value):
            // JSON has no NaN or infinity; integral values print without a fraction.
            if !value.isFinite { output += "null" }
            else if value == value.rounded(), abs(value) < 1e15 { output += String(Int64(value)) }
            else { output += String(value) }
        case let .string(value): Self.writeString(value, to: &output)
        case let .array(items):
            output += "["
            for (index, item) in items.enumerated() {
                if index > 0 { output += "," }
                item.write(to: &output)
            }
            output += "]"
        case let .object(members):
            output += "{"
            for (index, (name, value)) in members.enumerated() {
                if index > 0 { output += "," }
                Self.writeString(name, to: &output)
                output += ":"
                value.write(to: &output)
            }
            output += "}"
        case let .raw(text): output += text
        }
    }

    static func writeString(_ value: String, to output: inout String) {
        output += "\""
        var plainStart = value.unicodeScalars.startIndex
        var index = plainStart
        let scalars = value.unicodeScalars
        while index < scalars.endIndex {
            let scalar = scalars[index]
            let escape: String? = switch scalar {
            case "\"": "\\\""
            case "\\": "\\\\"
            case "\n": "\\n"
            case "\r": "\\r"
            case "\t": "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: nil
            }
            if let escape {
                output.unicodeScalars.append(contentsOf: scalars[plainStart..<index])
                output += escape
                plainStart = scalars.index(after: index)
            }
            index = scalars.index(after: index)
        }
        output.unicodeScalars.append(contentsOf: scalars[plainStart..<scalars.endIndex])
        output += "\""
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
