/// A pattern that PCRE2 refused to compile, with PCRE2's own message and the byte offset in the
/// pattern where it gave up (what an author needs to fix it).
public struct PCRE2Error: Error, Sendable, Hashable, CustomStringConvertible {
    /// PCRE2's error code (negative numbers are PCRE2's; see pcre2api(3)).
    public let code: Int32
    public let message: String
    /// Byte offset in the pattern where compilation failed.
    public let offset: Int

    public var description: String { "\(message) at offset \(offset)" }
}
