import Yams

/// Collects diagnostics while a policy set is read; reading goes on after a problem so that one run
/// reports everything.
struct DiagnosticLog {
    private(set) var items: [PolicyDiagnostic] = []

    var isEmpty: Bool { items.isEmpty }

    mutating func error(_ code: PolicyDiagnostic.Code, at node: YAMLNode, _ message: String) {
        items.append(PolicyDiagnostic(code, at: node.location, path: node.path, message))
    }

    mutating func error(_ code: PolicyDiagnostic.Code, at location: SourceLocation, path: String, _ message: String) {
        items.append(PolicyDiagnostic(code, at: location, path: path, message))
    }

    mutating func append(_ diagnostic: PolicyDiagnostic) {
        items.append(diagnostic)
    }
}

/// A YAML node with the file it came from and its path in the document, so that every problem
/// found in it can be reported as `FILE:LINE:COL: PATH: message`.
///
/// Scalars are typed by YAML 1.2 core-schema rules, not by YAML 1.1's: a plain `no`, `on` or `yes` is
/// a string, never a boolean (the "Norway problem"), and a quoted scalar is always a string.
struct YAMLNode {
    let node: Node
    let file: String
    let path: String

    var location: SourceLocation {
        SourceLocation(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    func child(key: String, node: Node) -> YAMLNode {
        YAMLNode(node: node, file: file, path: path.isEmpty ? key : "\(path).\(key)")
    }

    func child(index: Int, node: Node) -> YAMLNode {
        YAMLNode(node: node, file: file, path: "\(path)[\(index)]")
    }

    // MARK: Scalar typing

    enum ScalarKind {
        case string, integer, float, boolean, null
    }

    private static let yamlTag = "tag:yaml.org,2002:"

    /// The scalar's kind under YAML 1.2's core schema; nil for mappings and sequences.
    var scalarKind: ScalarKind? {
        guard case let .scalar(scalar) = node else { return nil }
        let explicit = scalar.tag.rawValue
        if explicit.hasPrefix(Self.yamlTag) {
            switch explicit.dropFirst(Self.yamlTag.count) {
            case "str": return .string
            case "int": return .integer
            case "bool": return .boolean
            case "null": return .null
            case "float": return .float
            default: return .string
            }
        }
        guard scalar.style == .plain || scalar.style == .any else { return .string }
        switch scalar.string {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE", "false", "False", "FALSE": return .boolean
        default: break
        }
        if Int(scalar.string) != nil { return .integer }
        if Double(scalar.string) != nil, scalar.string.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
            return .float
        }
        return .string
    }

    /// "a mapping", "a list", "a string "x"" — how the node is named in a type error.
    var kindDescription: String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case let .scalar(scalar):
            switch scalarKind {
            case .string: return "a string \"\(scalar.string)\""
            case .integer: return "an integer \(scalar.string)"
            case .float: return "a number \(scalar.string)"
            case .boolean: return "a boolean \(scalar.string)"
            case .null, .none: return "null"
            }
        }
    }

    // MARK: Typed reads: each reports a wrong type and returns nil

    func string(_ log: inout DiagnosticLog) -> String? {
        guard case let .scalar(scalar) = node, let kind = scalarKind else {
            log.error(.wrongType, at: self, "expected a string, got \(kindDescription)")
            return nil
        }
        switch kind {
        case .string, .integer, .float:
            return scalar.string
        case .boolean, .null:
            log.error(.wrongType, at: self, "expected a string, got \(kindDescription) (quote it if you mean the text)")
            return nil
        }
    }

    /// A string that must not be empty.
    func nonEmptyString(_ log: inout DiagnosticLog) -> String? {
        guard let value = string(&log) else { return nil }
        guard !value.isEmpty else {
            log.error(.invalidValue, at: self, "must not be empty")
            return nil
        }
        return value
    }

    func integer(_ log: inout DiagnosticLog) -> Int? {
        guard case let .scalar(scalar) = node, scalarKind == .integer, let value = Int(scalar.string) else {
            log.error(.wrongType, at: self, "expected an integer, got \(kindDescription)")
            return nil
        }
        return value
    }

    func integer(in range: ClosedRange<Int>, _ log: inout DiagnosticLog) -> Int? {
        guard let value = integer(&log) else { return nil }
        guard range.contains(value) else {
            log.error(.invalidValue, at: self, "\(value) is out of range (\(range.lowerBound)...\(range.upperBound))")
            return nil
        }
        return value
    }

    func boolean(_ log: inout DiagnosticLog) -> Bool? {
        guard case let .scalar(scalar) = node, scalarKind == .boolean else {
            log.error(.wrongType, at: self, "expected a boolean (true or false), got \(kindDescription)")
            return nil
        }
        return scalar.string.lowercased() == "true"
    }

    func sequence(_ log: inout DiagnosticLog) -> [YAMLNode]? {
        guard case let .sequence(sequence) = node else {
            log.error(.wrongType, at: self, "expected a list, got \(kindDescription)")
            return nil
        }
        return sequence.enumerated().map { child(index: $0.offset, node: $0.element) }
    }

    /// A list of non-empty strings; an item of the wrong type is reported and left out.
    func stringList(_ log: inout DiagnosticLog) -> [(value: String, node: YAMLNode)]? {
        guard let items = sequence(&log) else { return nil }
        return items.compactMap { item in item.nonEmptyString(&log).map { ($0, item) } }
    }

    /// A mapping whose keys are names chosen by the author (issuers, limits, header names…), in
    /// document order. Keys must be strings; values are returned unread.
    func namedEntries(_ log: inout DiagnosticLog) -> [(name: String, key: YAMLNode, value: YAMLNode)]? {
        guard case let .mapping(mapping) = node else {
            log.error(.wrongType, at: self, "expected a mapping, got \(kindDescription)")
            return nil
        }
        var entries: [(name: String, key: YAMLNode, value: YAMLNode)] = []
        for (keyNode, valueNode) in mapping {
            let keyAtPath = YAMLNode(node: keyNode, file: file, path: path)
            guard let name = keyAtPath.mappingKey(&log) else { continue }
            entries.append((name, YAMLNode(node: keyNode, file: file, path: path.isEmpty ? name : "\(path).\(name)"),
                            child(key: name, node: valueNode)))
        }
        return entries
    }

    /// A mapping with a fixed set of keys: unknown keys are reported, with a did-you-mean.
    func fields(_ log: inout DiagnosticLog, allowed: [String]) -> YAMLFields? {
        guard case let .mapping(mapping) = node else {
            log.error(.wrongType, at: self, "expected a mapping, got \(kindDescription)")
            return nil
        }
        var values: [String: YAMLNode] = [:]
        for (keyNode, valueNode) in mapping {
            let keyAtPath = YAMLNode(node: keyNode, file: file, path: path)
            guard let key = keyAtPath.mappingKey(&log) else { continue }
            guard allowed.contains(key) else {
                // Reported at the mapping's path (`routes[0]: unknown key "timeout"`); a key of the
                // document itself has no mapping path, so the key is its own (`rutes: unknown key…`).
                let at = path.isEmpty ? YAMLNode(node: keyNode, file: file, path: key) : keyAtPath
                log.error(.unknownKey, at: at, "unknown key \"\(key)\"\(DidYouMean.hint(for: key, among: allowed))")
                continue
            }
            values[key] = child(key: key, node: valueNode)
        }
        return YAMLFields(node: self, values: values)
    }

    private func mappingKey(_ log: inout DiagnosticLog) -> String? {
        guard case let .scalar(scalar) = node, scalarKind != .null else {
            log.error(.wrongType, at: self, "a key must be a string, got \(kindDescription)")
            return nil
        }
        return scalar.string
    }
}

/// The values of a fixed-key mapping, by key.
struct YAMLFields {
    let node: YAMLNode
    let values: [String: YAMLNode]

    subscript(key: String) -> YAMLNode? { values[key] }

    /// The value of a key that must be present; its absence is reported at the mapping.
    func required(_ key: String, _ log: inout DiagnosticLog) -> YAMLNode? {
        if let value = values[key] { return value }
        log.error(.missingKey, at: node.location, path: node.path.isEmpty ? key : node.path, "missing required key \"\(key)\"")
        return nil
    }
}
