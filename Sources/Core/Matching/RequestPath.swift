/// The path routes are matched against, and what the upstream receives.
///
/// Normalization closes the gap between what the sidecar checks and what the upstream serves:
/// without it `/v1/public/../admin` or `/v1/%61dmin` would pass a rule written for `/v1/admin`.
/// Steps, in this order (RFC 3986 §6.2.2):
/// 1. percent-decode unreserved characters (`A-Z a-z 0-9 - . _ ~`), and upper-case the hex digits of
///    every other escape (`%2f` → `%2F`), so `%2E%2E` becomes `..` before step 2;
/// 2. remove `.` and `..` segments (§5.2.4); a `..` that would climb above `/` is an error (400),
///    never silently clamped, because an upstream that clamps differently would disagree.
/// Control bytes, space, DEL, `#` and malformed escapes are errors too.
public enum RequestPath {
    public enum Problem: Error, Sendable, Hashable, CustomStringConvertible {
        case notAbsolute
        case forbiddenByte(UInt8)
        case malformedEscape
        case climbsAboveRoot

        public var description: String {
            switch self {
            case .notAbsolute: "the path must start with \"/\""
            case let .forbiddenByte(byte): "the path contains a forbidden byte 0x\(Hex.encode([byte]))"
            case .malformedEscape: "the path contains a malformed percent-escape"
            case .climbsAboveRoot: "the path climbs above \"/\""
            }
        }
    }

    /// True when `path` is already normal: it starts with `/` and has no byte normalization could
    /// change or refuse (no `%`, no `.`, no control byte, space, DEL or `#`). The common case, and
    /// it costs no array.
    public static func isNormal(_ path: Substring.UTF8View) -> Bool {
        guard path.first == UInt8(ascii: "/") else { return false }
        for byte in path {
            switch byte {
            case 0...0x20, 0x7F, UInt8(ascii: "#"), UInt8(ascii: "%"), UInt8(ascii: "."): return false
            default: continue
            }
        }
        return true
    }

    /// The proxy's case (the target's path part as it came off the wire), specialized here: a
    /// generic called from another module would run unspecialized on every request.
    public static func normalize(_ path: Substring.UTF8View) -> Result<[UInt8], Problem> {
        normalizeBytes(path)
    }

    /// Normalizes a request path (without its query). Returns the bytes to match and forward.
    public static func normalize(_ path: some Collection<UInt8>) -> Result<[UInt8], Problem> {
        normalizeBytes(path)
    }

    private static func normalizeBytes(_ path: some Collection<UInt8>) -> Result<[UInt8], Problem> {
        guard path.first == UInt8(ascii: "/") else { return .failure(.notAbsolute) }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(path.count)
        var needsDotRemoval = false
        var index = path.startIndex
        while index != path.endIndex {
            let byte = path[index]
            switch byte {
            case 0...0x20, 0x7F, UInt8(ascii: "#"):
                return .failure(.forbiddenByte(byte))
            case UInt8(ascii: "%"):
                let first = path.index(after: index)
                guard first != path.endIndex else { return .failure(.malformedEscape) }
                let second = path.index(after: first)
                guard second != path.endIndex, let high = Hex.value(path[first]), let low = Hex.value(path[second]) else {
                    return .failure(.malformedEscape)
                }
                let value = high << 4 | low
                if isUnreserved(value) {
                    decoded.append(value)
                    if value == UInt8(ascii: ".") { needsDotRemoval = true }
                } else {
                    decoded.append(UInt8(ascii: "%"))
                    decoded.append(upperHex(high))
                    decoded.append(upperHex(low))
                }
                index = path.index(after: second)
                continue
            case UInt8(ascii: "."):
                needsDotRemoval = true
                decoded.append(byte)
            default:
                decoded.append(byte)
            }
            index = path.index(after: index)
        }
        return needsDotRemoval ? removeDotSegments(decoded) : .success(decoded)
    }

    public static func normalize(_ path: String) -> Result<String, Problem> {
        normalize(Array(path.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Why a `path:` or `prefix:` in a policy file could never match a normalized request, or nil.
    public static func problemWithPolicyPath(_ path: String) -> String? {
        if path.contains("?") { return "a path must not contain a query (\"?\")" }
        switch normalize(path) {
        case let .failure(problem):
            return "invalid path \"\(path)\": \(problem)"
        case let .success(normalized) where normalized != path:
            return "path \"\(path)\" is not normalized; write \"\(normalized)\" (requests are matched after dot-segment removal and decoding of unreserved characters)"
        case .success:
            return nil
        }
    }

    private static func removeDotSegments(_ input: [UInt8]) -> Result<[UInt8], Problem> {
        // Split on "/", drop "." segments, pop on ".."; keep a trailing slash when the last segment was
        // "." or "..", as RFC 3986 does ("/a/b/.." → "/a/").
        var segments: [ArraySlice<UInt8>] = []
        let parts = input.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        var trailingSlash = false
        for (offset, segment) in parts.enumerated() {
            let isLast = offset == parts.count - 1
            if segment.elementsEqual([UInt8(ascii: ".")]) {
                trailingSlash = isLast
            } else if segment.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                guard !segments.isEmpty else { return .failure(.climbsAboveRoot) }
                segments.removeLast()
                trailingSlash = isLast
            } else {
                segments.append(segment)
                trailingSlash = false
            }
        }
        var output: [UInt8] = [UInt8(ascii: "/")]
        output.reserveCapacity(input.count)
        for (offset, segment) in segments.enumerated() {
            if offset > 0 { output.append(UInt8(ascii: "/")) }
            output.append(contentsOf: segment)
        }
        if trailingSlash, !segments.isEmpty { output.append(UInt8(ascii: "/")) }
        return .success(output)
    }

    @inline(__always)
    private static func isUnreserved(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
             UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    @inline(__always)
    private static func upperHex(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10
    }
}
