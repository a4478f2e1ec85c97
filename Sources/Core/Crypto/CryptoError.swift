/// A failure inside the crypto layer. `code` is stable so callers and tests can match on it;
/// `message` carries OpenSSL's own reason where there is one.
public struct CryptoError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate let name: String
        public var description: String { name }

        public static let randomFailed = Code(name: "randomFailed")
        public static let digestFailed = Code(name: "digestFailed")
        public static let macFailed = Code(name: "macFailed")
        public static let invalidKey = Code(name: "invalidKey")
        public static let cipherFailed = Code(name: "cipherFailed")
        /// A sealed value that does not authenticate: wrong key, tampered, or not ours.
        public static let authenticationFailed = Code(name: "authenticationFailed")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
