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

    /// Field indices, as bits: the first 256 (every request head: `--max-header-bytes` allows at
    /// most 256 fields) inline, with no allocation; any beyond in an array.
    struct FieldSet: Sendable {
        private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        private var beyond: [Int] = []
        private(set) var isEmpty = true

        mutating func insert(_ index: Int) {
            isEmpty = false
            let bit = UInt64(1) << UInt64(index & 63)
            switch index >> 6 {
            case 0: words.0 |= bit
            case 1: words.1 |= bit
            case 2: words.2 |= bit
            case 3: words.3 |= bit
            default: if !beyond.contains(index) { beyond.append(index) }
            }
        }

        func contains(_ index: Int) -> Bool {
            let bit = UInt64(1) << UInt64(index & 63)
            switch index >> 6 {
            case 0: return words.0 & bit != 0
            case 1: return words.1 & bit != 0
            case 2: return words.2 & bit != 0
            case 3: return words.3 & bit != 0
            default: return beyond.contains(index)
            }
        }
    }

    public let head: HTTPHead
    private let allocator: ByteBufferAllocator
    /// The new field lines, each `name: value\r\n` (no buffer until the first is added).
    private var addedLines: ByteBuffer?
    /// The new field lines, each `name: value\r\n`.
    public var added: ByteBuffer { addedLines ?? ByteBuffer() }
    /// The fields left out.
    private var removed = FieldSet()
    /// A start line to send instead of the original one (a normalized target, another version),
    /// with its CRLF.
    public private(set) var startLine: ByteBuffer?

    /// An empty buffer to build the head in instead of a new one (a loop's recycled head buffers).
    private var spare: ByteBuffer?

    /// `reusing`: an empty buffer nothing else holds, to build the head in (no allocation).
    public init(_ head: HTTPHead, allocator: ByteBufferAllocator = .init(), reusing spare: consuming ByteBuffer? = nil) {
        self.head = head
        self.allocator = allocator
        self.spare = spare
    }

    /// The spare buffer (emptied, grown to `capacity`) or a new one.
    private mutating func buffer(capacity: Int) -> ByteBuffer {
        guard var buffer = spare.take() else { return allocator.buffer(capacity: capacity) }
        buffer.clear()
        if buffer.capacity < capacity { buffer.reserveCapacity(capacity) }
        return buffer
    }

    /// Leaves out the field at `index` of `head.fields`.
    public mutating func remove(fieldAt index: Int) {
        precondition(head.fields.indices.contains(index))
        removed.insert(index)
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
                Self.forEachListElement(UnsafeRawBufferPointer(rebasing: bytes[field.value.range])) { token in
                    if keepUpgrade, ASCII.equalsLowercased(token, "upgrade") { return }
                    for (other, candidate) in head.fields.enumerated() where candidate.name.count == token.count {
                        let name = UnsafeRawBufferPointer(rebasing: bytes[candidate.name.range])
                        if zip(name, token).allSatisfy({ ASCII.lowercased($0) == ASCII.lowercased($1) }) { remove(fieldAt: other) }
                    }
                }
            }
        }
        if keepUpgrade, head.firstIndex(of: .upgrade) != nil { appendAdded { $0.writeStaticString("Connection: upgrade\r\n") } }
    }

    /// Each non-empty element of a comma-separated list, OWS trimmed (no array made).
    static func forEachListElement(_ value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start < value.count {
            var end = start
            while end < value.count, value[end] != UInt8(ascii: ",") { end += 1 }
            var first = start
            var last = end
            while first < last, value[first] == UInt8(ascii: " ") || value[first] == UInt8(ascii: "\t") { first += 1 }
            while last > first, value[last - 1] == UInt8(ascii: " ") || value[last - 1] == UInt8(ascii: "\t") { last -= 1 }
            if first < last { body(UnsafeRawBufferPointer(rebasing: value[first..<last])) }
            start = end + 1
        }
    }

    /// Room left before the added lines for the original bytes and a longer start line, so
    /// `makeHead` can assemble the head in the added lines' own buffer (one buffer per head).
    private var gap: Int { head.length + 64 }

    /// Writes to the added lines, making their buffer on first use: they start at `gap`.
    private mutating func appendAdded(_ write: (inout ByteBuffer) -> Void) {
        if addedLines == nil {
            var buffer = buffer(capacity: gap + 256)
            buffer.moveWriterIndex(to: gap)
            buffer.moveReaderIndex(to: gap)
            addedLines = buffer
        }
        write(&addedLines!)
    }

    /// The forwarded head in one buffer, built in the buffer that holds the added lines: the
    /// original runs and the start line are written in front of them, the lines moved up behind
    /// those, then the final CRLF. One buffer per head, and no second copy of the added lines.
    public mutating func makeHead(from original: ByteBuffer) -> ByteBuffer {
        let originalStartLine = head.fields.first.map { Int($0.line.start) } ?? head.length - 2
        guard var out = addedLines, (startLine?.readableBytes ?? 0) <= originalStartLine + 60 else {
            var out = buffer(capacity: length)
            write(from: original, into: &out)
            return out
        }
        addedLines = nil
        let addedStart = out.readerIndex
        let addedCount = out.readableBytes
        var position = 0
        forEachSegment(addedCount: addedCount) { segment in
            switch segment {
            case .startLine:
                position += out.setBuffer(startLine!, at: position)
            case let .original(range):
                original.withUnsafeReadableBytes { position += out.setBytes(UnsafeRawBufferPointer(rebasing: $0[range]), at: position) }
            case .added:
                // Overlapping moves are fine (memmove); the source is still readable here.
                position += try! out.copyBytes(at: addedStart, to: position, length: addedCount)
            }
        }
        out.moveReaderIndex(to: 0)
        out.moveWriterIndex(to: position)
        return out
    }

    /// Adds `name: value` before the final empty line.
    public mutating func add(_ name: String, _ value: String) throws(HTTPHeadError) {
        var value = value
        let result: Result<Void, HTTPHeadError> = value.withUTF8 { value in
            do throws(HTTPHeadError) {
                try add(name, bytes: UnsafeRawBufferPointer(value))
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Adds `name: value` with the value's bytes taken from a buffer (a slice of the original, say).
    public mutating func add(_ name: String, _ value: ByteBuffer) throws(HTTPHeadError) {
        let result: Result<Void, HTTPHeadError> = value.withUnsafeReadableBytes { value in
            do throws(HTTPHeadError) {
                try add(name, bytes: value)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Adds `name: value` with the value's bytes as they are (checked like any value).
    public mutating func add(_ name: String, bytes value: UnsafeRawBufferPointer) throws(HTTPHeadError) {
        var name = name
        let result: Result<Void, HTTPHeadError> = name.withUTF8 { name in
            do throws(HTTPHeadError) {
                try add(UnsafeRawBufferPointer(name), value)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    private mutating func add(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(HTTPHeadError) {
        guard !name.isEmpty, name.allSatisfy(HTTPToken.isTokenCharacter) else {
            throw HTTPHeadError(.badHeaderName, at: 0)
        }
        guard value.allSatisfy(HTTPHeadParser.isFieldValueByte) else { throw HTTPHeadError(.badHeaderValue, at: 0) }
        appendAdded { added in
            added.writeBytes(name)
            added.writeStaticString(": ")
            added.writeBytes(value)
            added.writeStaticString("\r\n")
        }
    }

    /// The forwarded head, in order: runs of the original between removed lines, the added lines,
    /// the original final CRLF. Adjacent runs of the original are one segment.
    public var segments: [Segment] {
        var segments: [Segment] = []
        forEachSegment { segments.append($0) }
        return segments
    }

    /// The segments in order, without making an array of them.
    public func forEachSegment(_ body: (Segment) -> Void) {
        forEachSegment(addedCount: addedLines?.readableBytes ?? 0, body)
    }

    private func forEachSegment(addedCount: Int, _ body: (Segment) -> Void) {
        var start = 0
        if startLine != nil {
            body(.startLine)
            start = head.fields.first.map { Int($0.line.start) } ?? head.length - 2
        }
        let finalLine = head.length - 2
        if !removed.isEmpty {
            for index in head.fields.indices where removed.contains(index) {
                let line = head.fields[index].line
                if start < Int(line.start) { body(.original(start..<Int(line.start))) }
                start = Int(line.end)
            }
        }
        if addedCount > 0 {
            if start < finalLine { body(.original(start..<finalLine)) }
            body(.added(0..<addedCount))
            body(.original(finalLine..<head.length))
        } else {
            body(.original(start..<head.length))
        }
    }

    /// The forwarded head as slices of `original` (whose reader index is at the head's first byte)
    /// and of `added`: nothing copied, ready for a vector write.
    public func slices(of original: ByteBuffer) -> [ByteBuffer] {
        let added = added
        return segments.map { segment in
            switch segment {
            case let .original(range): original.getSlice(at: original.readerIndex + range.lowerBound, length: range.count)!
            case let .added(range): added.getSlice(at: added.readerIndex + range.lowerBound, length: range.count)!
            case .startLine: startLine!
            }
        }
    }

    /// The forwarded head's length in bytes.
    public var length: Int {
        var total = 0
        forEachSegment { segment in
            switch segment {
            case let .original(range), let .added(range): total += range.count
            case .startLine: total += startLine!.readableBytes
            }
        }
        return total
    }

    /// The forwarded head copied into `buffer`.
    public func write(from original: ByteBuffer, into buffer: inout ByteBuffer) {
        forEachSegment { segment in
            switch segment {
            case let .original(range):
                original.withUnsafeReadableBytes { _ = buffer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[range])) }
            case let .added(range):
                addedLines!.withUnsafeReadableBytes { _ = buffer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[range])) }
            case .startLine:
                buffer.writeImmutableBuffer(startLine!)
            }
        }
    }
}
