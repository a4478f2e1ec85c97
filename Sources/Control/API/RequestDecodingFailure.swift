/// A `DecodingError` from the generated request decoders, said the way our problems say things:
/// the member's path (`grant_types[0]`) and what is wrong with it.
struct RequestDecodingFailure {
    let message: String
    /// The generated types refuse members the document does not declare (`additionalProperties: false`).
    let isUnknownMember: Bool

    init(_ error: DecodingError) {
        switch error {
        case let .keyNotFound(key, context):
            message = "\(Self.path(context.codingPath + [key])) is required"
            isUnknownMember = false
        case let .valueNotFound(_, context):
            message = "\(Self.path(context.codingPath)) must not be null"
            isUnknownMember = false
        case let .typeMismatch(type, context):
            message = "\(Self.path(context.codingPath)) must be \(Self.kind(type))"
            isUnknownMember = false
        case let .dataCorrupted(context):
            // The runtime's ensureNoAdditionalProperties says so in its description.
            isUnknownMember = context.debugDescription.hasPrefix("Additional properties are disabled")
            message = isUnknownMember
                ? "unknown field \"\(context.codingPath.last?.stringValue ?? "")\""
                : "\(Self.path(context.codingPath)) is not valid: \(context.debugDescription)"
        @unknown default:
            message = "the request does not match the API document"
            isUnknownMember = false
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
        return text.isEmpty ? "the value" : text
    }

    static func kind(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type, is Int32.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        default: "of type \(type)"
        }
    }
}
