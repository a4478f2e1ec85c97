import Core
import Yams

/// `Sources/Control/openapi.yaml`, the one place the API is declared, compiled into the binary
/// (SwiftPM's `embedInCode`, so no resource bundle has to travel with it) and turned into the JSON
/// that `GET /openapi.json` serves once, at first use.
enum OpenAPIDocument {
    static let yaml = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)

    /// The document as JSON, members in the YAML's order. The YAML is part of the build, so a
    /// document that does not parse is a programming error caught by the tests, not a runtime state.
    static let json: String = {
        do {
            guard let root = try Yams.compose(yaml: yaml) else { fatalError("openapi.yaml is empty") }
            return try jsonValue(root).serialized()
        } catch {
            fatalError("openapi.yaml does not convert to JSON: \(error)")
        }
    }()

    /// One operation of the document: where it is routed and the scope its Bearer token needs.
    struct Operation: Sendable, Hashable {
        let method: String
        /// The document's template: `/v1/clients/{id}`.
        let path: String
        let operationID: String
        /// Set when the operation's only security requirement is a Bearer token with one scope (every
        /// `/v1` operation): the router checks it before the handler runs. OAuth endpoints, which
        /// authenticate clients themselves, and public ones have none.
        let scope: String?
        let hasRequestBody: Bool
        /// The response statuses the document lists (`"200"`, `"404"`, …).
        let statuses: [String]
    }

    static let methods = ["get", "put", "post", "delete", "patch", "head", "options"]

    /// Every operation, in the document's order.
    static let operations: [Operation] = {
        guard let root = try? Yams.compose(yaml: yaml), let paths = root["paths"]?.mapping else { fatalError("openapi.yaml has no paths") }
        return paths.flatMap { pathNode, item -> [Operation] in
            let path = pathNode.string ?? ""
            return item.mapping?.compactMap { methodNode, operation -> Operation? in
                guard let method = methodNode.string, methods.contains(method) else { return nil }
                let requirements = operation["security"]?.sequence.map(Array.init) ?? []
                let bearer = requirements.count == 1 ? requirements[0]["bearer"]?.sequence.map(Array.init) : nil
                return Operation(
                    method: method.uppercased(), path: path, operationID: operation["operationId"]?.string ?? "",
                    scope: bearer?.count == 1 ? bearer?[0].string : nil, hasRequestBody: operation["requestBody"] != nil,
                    statuses: operation["responses"]?.mapping?.keys.compactMap(\.string) ?? [])
            } ?? []
        }
    }()

    static func operation(_ method: String, _ path: String) -> Operation? {
        operations.first { $0.method == method && $0.path == path }
    }

    struct UnsupportedNode: Error, CustomStringConvertible {
        let description: String
    }

    /// YAML 1.2 core-schema scalars as JSON: null, booleans, integers and floats by their resolved
    /// tag, everything else (and every quoted scalar) a string.
    static func jsonValue(_ node: Node) throws -> JSONOutput {
        switch node {
        case let .scalar(scalar):
            switch Tag.Name(rawValue: node.tag.description) {
            case .null: return .null
            case .bool: return node.bool.map(JSONOutput.bool) ?? .string(scalar.string)
            case .int: return node.int.map { .int(Int64($0)) } ?? .string(scalar.string)
            case .float: return node.float.map(JSONOutput.double) ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        case let .sequence(sequence):
            return .array(try sequence.map(jsonValue))
        case let .mapping(mapping):
            return .object(try mapping.map { key, value in
                guard let name = key.string else { throw UnsupportedNode(description: "a mapping key is not a string") }
                return (name, try jsonValue(value))
            })
        case .alias:
            throw UnsupportedNode(description: "aliases are not used in openapi.yaml")
        }
    }
}
