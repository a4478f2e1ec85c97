internal import CPCRE2

/// A PCRE2 pattern compiled once, at policy load, with the JIT when the platform has it.
///
/// Matching is bounded: a pattern with catastrophic backtracking (`(a+)+$` against `aaaa…b`) stops at
/// the match limit and reports `.limitExceeded` instead of pinning an event loop, so a caller cannot
/// turn a route or header pattern into a denial of service. Subjects are bytes; invalid UTF-8 in a
/// subject never fails the match (`PCRE2_MATCH_INVALID_UTF`), it simply cannot match a UTF-8 pattern.
///
/// Thread safety: the compiled code and the match context are only read after `init`; PCRE2
/// documents both as shareable between threads. Each match uses its own match data.
public final class PCRE2Regex: @unchecked Sendable {
    public enum MatchOutcome: Sendable, Hashable {
        case matched
        case notMatched
        /// The match or heap limit stopped the search; treat as no match, and count it.
        case limitExceeded
        /// Any other PCRE2 failure (its negative code); treat as no match.
        case failed(Int32)
    }

    public struct Limits: Sendable, Hashable {
        /// Calls of PCRE2's internal match function (backtracking steps) per match.
        public var matchLimit: UInt32
        /// Heap for backtracking, in KiB (the interpreter only; the JIT uses its stack).
        public var heapLimitKiB: UInt32

        public init(matchLimit: UInt32 = 100_000, heapLimitKiB: UInt32 = 1024) {
            self.matchLimit = matchLimit
            self.heapLimitKiB = heapLimitKiB
        }

        public static let `default` = Limits()
    }

    public let pattern: String
    /// True when the JIT compiled the pattern (false on platforms without JIT support).
    public let isJITCompiled: Bool

    private let code: OpaquePointer
    private let matchContext: OpaquePointer

    public init(_ pattern: String, caseInsensitive: Bool = false, limits: Limits = .default) throws(PCRE2Error) {
        var options = UInt32(PCRE2_UTF) | UInt32(PCRE2_MATCH_INVALID_UTF) | UInt32(PCRE2_NEVER_BACKSLASH_C)
        if caseInsensitive { options |= UInt32(PCRE2_CASELESS) }
        var errorCode: Int32 = 0
        var errorOffset = 0
        let bytes = Array(pattern.utf8)
        let compiled = bytes.withUnsafeBufferPointer { buffer in
            pcre2_compile_8(buffer.baseAddress, buffer.count, options, &errorCode, &errorOffset, nil)
        }
        guard let compiled else {
            throw PCRE2Error(code: errorCode, message: Self.errorMessage(errorCode), offset: errorOffset)
        }
        guard let context = pcre2_match_context_create_8(nil) else {
            pcre2_code_free_8(compiled)
            preconditionFailure("pcre2_match_context_create: out of memory")
        }
        pcre2_set_match_limit_8(context, limits.matchLimit)
        pcre2_set_heap_limit_8(context, limits.heapLimitKiB)
        self.pattern = pattern
        self.code = compiled
        self.matchContext = context
        self.isJITCompiled = pcre2_jit_compile_8(compiled, UInt32(PCRE2_JIT_COMPLETE)) == 0
    }

    deinit {
        pcre2_match_context_free_8(matchContext)
        pcre2_code_free_8(code)
    }

    /// Searches `subject` (unanchored unless the pattern anchors itself with `^` / `$`).
    public func matches(_ subject: UnsafeRawBufferPointer) -> MatchOutcome {
        guard let matchData = pcre2_match_data_create_8(1, nil) else { return .failed(Int32(PCRE2_ERROR_NOMEMORY)) }
        defer { pcre2_match_data_free_8(matchData) }
        // A zero-length subject still needs a valid pointer.
        let base = subject.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let rc = withUnsafePointer(to: UInt8(0)) { empty in
            pcre2_match_8(code, base ?? empty, subject.count, 0, 0, matchData, matchContext)
        }
        switch rc {
        case let rc where rc >= 0: return .matched
        case PCRE2_ERROR_NOMATCH, PCRE2_ERROR_PARTIAL: return .notMatched
        case PCRE2_ERROR_MATCHLIMIT, PCRE2_ERROR_HEAPLIMIT, PCRE2_ERROR_DEPTHLIMIT, PCRE2_ERROR_JIT_STACKLIMIT:
            return .limitExceeded
        default: return .failed(rc)
        }
    }

    public func matches(_ subject: [UInt8]) -> MatchOutcome {
        subject.withUnsafeBytes { matches($0) }
    }

    public func matches(_ subject: String) -> MatchOutcome {
        var subject = subject
        return subject.withUTF8 { matches(UnsafeRawBufferPointer($0)) }
    }

    /// True only for `.matched`: limits and failures never grant a match.
    public func isMatch(_ subject: String) -> Bool {
        matches(subject) == .matched
    }

    static func errorMessage(_ code: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = pcre2_get_error_message_8(code, &buffer, buffer.count)
        guard length > 0 else { return "PCRE2 error \(code)" }
        return String(decoding: buffer.prefix(Int(length)), as: UTF8.self)
    }
}
