import NIOCore

/// The forwarded head: the original bytes with the sidecar's edits spliced in, never re-encoded.
/// Fields are removed by index (hop-by-hop, identity headers a client must not set) and new field
/// lines are added before the final empty line (`X-Request-Id`, `X-Forwarded-*`, claim headers);
/// replacing is removing and adding. The result is a short list of `Segment`s, spans of the
/// original head and of one buffer of added bytes, for one `writev`, or copied into one buffer.
///
/// Added names and values are checked: a value taken from a token claim must not carry a CR or LF
/// into the upstream's head (header injection), so `add` throws `badHeaderName`/`badHeaderValue`.
public struct HTTPHeadSplice: Sendable {
    public enum Segment: Sendable, Equatable {
        /// Bytes of the original head (offsets from its first byte).
        case original(Range<Int>)
        /// Bytes of `added`.
        case added(Range<Int>)
        /// The replacement start line (`startLine`), in place of the original one.
        case startLine
    }

    public let head: HTTPHead
    /// The new field lines, each `name: value\r\n`.
    public private(set) var added: ByteBuffer
    /// Indices into `head.fields` of the fields left out, ascending once `segments` is read.
    private var removed: [Int] = []
    /// A start line to send instead of the original one (a normalized target, another version),
    /// with its CRLF.
    public private(set) var startLine: ByteBuffer?

    public init(_ head: HTTPHead, allocator: ByteBufferAllocator = .init()) {
        self.head = head
        self.added = allocator.buffer(capacity: 0)
    }

    /// Leaves out the field at `index` of `head.fields`.
    public mutating func remove(fieldAt index: Int) {
        precondition(head.fields.indices.contains(index))
        if !removed.contains(index) { removed.append(index) }
    }

    /// Sends `line` (without CRLF) as the start line instead of the original one.
    public mutating func replaceStartLine(_ line: String) {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(line.utf8.count + 2)
        buffer.writeString(line)
        buffer.writeStaticString("\r\n")
        startLine = buffer
    }

    /// Leaves out every field named `lowercasedName` (any case), for names that are not
    /// `HTTPHeaderName`s (a policy's identity headers). `original` holds the head's bytes.
    public mutating func removeAll(lowercased lowercasedName: String, in original: ByteBuffer) {
        var name = lowercasedName
        name.withUTF8 { wanted in
            original.withUnsafeReadableBytes { bytes in
                for (index, field) in head.fields.enumerated() where field.name.count == wanted.count {
                    if ASCII.equalsLowercased(UnsafeRawBufferPointer(rebasing: bytes[field.name.range]), UnsafeRawBufferPointer(wanted)) {
                        remove(fieldAt: index)
                    }
                }
            }
        }
    }

    /// Leaves out every field the sidecar knows by `name`.
    public mutating func removeAll(_ name: HTTPHeaderName) {
        for (index, field) in head.fields.enumerated() where field.known == name { remove(fieldAt: index) }
    }

    /// Leaves out the hop-by-hop fields (RFC 9110 §7.6.1) and every field a `Connection` field
    /// names: a client could otherwise use `Connection: x-user-id` to make the proxy drop a header
    /// the upstream trusts, or keep one it should not. `keepUpgrade` keeps `Upgrade` and sends
    /// `Connection: upgrade` for a protocol switch the proxy tunnels. `keepTransferEncoding` keeps
    /// `Transfer-Encoding` for a body passed on in the chunked framing it arrived in. `original`
    /// holds the head's bytes from its reader index.
    public mutating func removeHopByHop(in original: ByteBuffer, keepUpgrade: Bool = false, keepTransferEncoding: Bool = false) {
        original.withUnsafeReadableBytes { bytes in
            for (index, field) in head.fields.enumerated() {
                if field.known.isHopByHop, !(keepUpgrade && field.known == .upgrade),
                    !(keepTransferEncoding && field.known == .transferEncoding)
                {
                    remove(fieldAt: index)
                }
                guard field.known == .connection else { continue }
                for token in Self.listElements(UnsafeRawBufferPointer(rebasing: bytes[field.value.range])) {
                    if keepUpgrade, ASCII.equalsLowercased(token, "upgrade") { continue }
                    for (other, candidate) in head.fields.enumerated() where candidate.name.count == token.count {
                        let name = UnsafeRawBufferPointer(rebasing: bytes[candidate.name.range])
                        if zip(name, token).allSatisfy({ ASCII.lowercased($0) == ASCII.lowercased($1) }) { remove(fieldAt: other) }
                    }
                }
            }
        }
        if keepUpgrade, head.firstIndex(of: .upgrade) != nil { added.writeStaticString("Connection: upgrade\r\n") }
    }

    /// The non-empty elements of a comma-separated list, OWS trimmed.
    private static func listElements(_ value: UnsafeRawBufferPointer) -> [UnsafeRawBufferPointer] {
        var elements: [UnsafeRawBufferPointer] = []
        for element in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
            var start = element.startIndex
            var end = element.endIndex
            while start < end, value[start] == UInt8(ascii: " ") || value[start] == UInt8(ascii: "\t") { start += 1 }
            while end > start, value[end - 1] == UInt8(ascii: " ") || value[end - 1] == UInt8(ascii: "\t") { end -= 1 }
            if start < end { elements.append(UnsafeRawBufferPointer(rebasing: value[start..<end])) }
        }
        return elements
    }

    /// Adds `name: value` before the final empty line.
    public mutating func add(_ name: String, _ value: String) throws(HTTPHeadError) {
        var name = name
        var value = value
        let result: Result<Void, HTTPHeadError> = name.withUTF8 { name in
            value.withUTF8 { value in
                do throws(HTTPHeadError) {
                    try add(UnsafeRawBufferPointer(name), UnsafeRawBufferPointer(value))
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
        }
        try result.get()
    }

    /// Adds `name: value` with the value's bytes taken from a buffer (a slice of the original, say).
    public mutating func add(_ name: String, _ value: ByteBuffer) throws(HTTPHeadError) {
        var name = name
        let result: Result<Void, HTTPHeadError> = name.withUTF8 { name in
            value.withUnsafeReadableBytes { value in
                do throws(HTTPHeadError) {
                    try add(UnsafeRawBufferPointer(name), value)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
        }
        try result.get()
    }

    private mutating func add(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(HTTPHeadError) {
        guard !name.isEmpty, name.allSatisfy(HTTPToken.isTokenCharacter) else {
            throw HTTPHeadError(.badHeaderName, at: 0)
        }
        guard value.allSatisfy(HTTPHeadParser.isFieldValueByte) else { throw HTTPHeadError(.badHeaderValue, at: 0) }
        added.writeBytes(name)
        added.writeStaticString(": ")
        added.writeBytes(value)
        added.writeStaticString("\r\n")
    }

    /// The forwarded head, in order: runs of the original between removed lines, the added lines,
    /// the original final CRLF. Adjacent runs of the original are one segment.
    public var segments: [Segment] {
        var segments: [Segment] = []
        segments.reserveCapacity(removed.count + 3)
        func appendOriginal(_ range: Range<Int>) {
            guard !range.isEmpty else { return }
            if case let .original(last)? = segments.last, last.upperBound == range.lowerBound {
                segments[segments.count - 1] = .original(last.lowerBound..<range.upperBound)
            } else {
                segments.append(.original(range))
            }
        }
        var start = 0
        if startLine != nil {
            segments.append(.startLine)
            start = head.fields.first.map { Int($0.line.start) } ?? head.length - 2
        }
        for index in removed.sorted() {
            let line = head.fields[index].line
            appendOriginal(start..<Int(line.start))
            start = Int(line.end)
        }
        let finalLine = head.length - 2
        appendOriginal(start..<finalLine)
        if added.readableBytes > 0 { segments.append(.added(0..<added.readableBytes)) }
        appendOriginal(finalLine..<head.length)
        return segments
    }

    /// The forwarded head as slices of `original` (whose reader index is at the head's first byte)
    /// and of `added`: nothing copied, ready for a vector write.
    public func slices(of original: ByteBuffer) -> [ByteBuffer] {
        segments.map { segment in
            switch segment {
            case let .original(range): original.getSlice(at: original.readerIndex + range.lowerBound, length: range.count)!
            case let .added(range): added.getSlice(at: added.readerIndex + range.lowerBound, length: range.count)!
            case .startLine: startLine!
            }
        }
    }

    /// The forwarded head's length in bytes.
    public var length: Int {
        segments.reduce(0) { total, segment in
            switch segment {
            case let .original(range), let .added(range): total + range.count
            case .startLine: total + startLine!.readableBytes
            }
        }
    }

    /// The forwarded head copied into `buffer`.
    public func write(from original: ByteBuffer, into buffer: inout ByteBuffer) {
        for segment in segments {
            switch segment {
            case let .original(range):
                original.withUnsafeReadableBytes { _ = buffer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[range])) }
            case let .added(range):
                added.withUnsafeReadableBytes { _ = buffer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[range])) }
            case .startLine:
                buffer.writeImmutableBuffer(startLine!)
            }
        }
    }
}
