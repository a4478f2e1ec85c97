import Foundation

/// A member the document requires but allows to be null (`NullableTimestamp`, `NullableString`:
/// `anyOf: [T, {const: null}]`). The generator's Optionals leave a nil member out; this writes `null`,
/// as the API always has (openapi-generator-config.yaml maps the two schemas here).
struct Nullable<Value: Codable & Hashable & Sendable>: Codable, Hashable, Sendable {
    var value: Value?

    init(_ value: Value?) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        value = container.decodeNil() ? nil : try container.decode(Value.self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}

typealias NullableDate = Nullable<Date>
typealias NullableText = Nullable<String>
