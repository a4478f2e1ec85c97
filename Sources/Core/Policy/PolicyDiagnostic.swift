/// One problem in a policy set, printed as `FILE:LINE:COL: PATH: message`.
///
/// `code` names the class of problem so tests and tools can match on it without parsing the
/// message; the message is for people and may improve over time.
public struct PolicyDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        public var description: String { name }
        private init(_ name: String) { self.name = name }

        /// The directory or a file could not be read.
        public static let unreadable = Code("unreadable")
        /// The YAML itself does not parse (syntax, duplicate keys, several documents).
        public static let yamlSyntax = Code("yamlSyntax")
        public static let unsupportedVersion = Code("unsupportedVersion")
        public static let unknownKey = Code("unknownKey")
        public static let missingKey = Code("missingKey")
        public static let wrongType = Code("wrongType")
        /// A value of the right type that is not allowed (empty name, out of range, bad header name…).
        public static let invalidValue = Code("invalidValue")
        public static let badDuration = Code("badDuration")
        public static let badRate = Code("badRate")
        public static let duplicateName = Code("duplicateName")
        public static let unknownReference = Code("unknownReference")
        /// `match` with none, or more than one, of path / prefix / regex.
        public static let matchKind = Code("matchKind")
        /// A PCRE2 pattern that does not compile.
        public static let badPattern = Code("badPattern")
        public static let badAlgorithm = Code("badAlgorithm")
        /// An issuer with zero or several of jwks_url / keys / secret_env.
        public static let issuerKeySource = Code("issuerKeySource")
        /// A key file that does not exist, cannot be read, or holds no usable public key.
        public static let keyFile = Code("keyFile")
        public static let serviceMismatch = Code("serviceMismatch")
        public static let noRoutes = Code("noRoutes")
    }

    public let code: Code
    public let location: SourceLocation?
    /// Where in the document: `routes[1].limits[0]`, `issuers.partner.keys[0]`, `version`; empty for
    /// the document as a whole (printed `$`, as JSONPath names the root).
    public let path: String
    public let message: String
    /// The file the problem was found in, even when it has no line (unreadable files).
    public let file: String

    public init(_ code: Code, at location: SourceLocation, path: String, _ message: String) {
        self.code = code
        self.location = location
        self.path = path
        self.message = message
        self.file = location.file
    }

    /// A problem with a file or directory as a whole, which has no line to point at.
    public init(_ code: Code, file: String, path: String = "", _ message: String) {
        self.code = code
        self.location = nil
        self.path = path
        self.message = message
        self.file = file
    }

    /// `FILE:LINE:COL: PATH: message` whenever there is a line to point at, so tools can split every
    /// line the same way; `FILE: message` only for a file or directory that could not be read.
    public var description: String {
        guard let location else { return path.isEmpty ? "\(file): \(message)" : "\(file): \(path): \(message)" }
        return "\(location): \(path.isEmpty ? "$" : path): \(message)"
    }
}

/// Every problem found in a policy set. Loading never stops at the first one.
public struct PolicyValidationError: Error, Sendable, CustomStringConvertible {
    public let diagnostics: [PolicyDiagnostic]

    public init(_ diagnostics: [PolicyDiagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}
