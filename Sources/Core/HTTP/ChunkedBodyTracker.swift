import NIOCore

/// Follows a chunked body (RFC 9112 §7.1) through the buffers it arrives in, without copying or
/// re-chunking it: fed bytes, it says which of them are chunk data, which are framing (chunk-size
/// lines, the CRLF after each chunk, the last chunk and trailers), and where the body ends, so the
/// proxy can pass the buffers on as they came and knows where the next request starts.
///
/// Strict for the same reason as `HTTPHeadParser`: a chunk size two parsers read differently is a
/// smuggled request. Sizes are hexadecimal digits only (no sign, no `0x`, no space before the CRLF),
/// at most 2^60 − 1; extensions are `;name` or `;name=token` or `;name="quoted"` with no whitespace,
/// at most `maxExtensionBytes` per chunk; trailer lines are well-formed field lines, at most
/// `maxTrailerBytes` in all, and none of them `Content-Length` or `Transfer-Encoding`. Anything
/// else throws, and the connection must close.
public struct ChunkedBodyTracker: Sendable, Equatable {
    /// What the next bytes are.
    public enum Piece: Sendable, Equatable {
        /// This many bytes of chunk data.
        case data(Int)
        /// This many bytes of framing: a chunk-size line or part of one, a CRLF after data, trailers.
        case framing(Int)
        /// The last this-many bytes of the body (the end of the last chunk's trailer section); the
        /// bytes after them are not the body's.
        case end(Int)

        public var count: Int {
            switch self {
            case let .data(count), let .framing(count), let .end(count): count
            }
        }
    }

    /// The part of one buffer that belongs to the body.
    public struct Progress: Sendable, Equatable {
        /// Bytes from the start of the buffer that are the body's (all of them unless it ended).
        public var bodyBytes: Int
        /// Of those, the chunk data (what `--max-body-bytes` counts).
        public var dataBytes: Int
        /// The body ended within the buffer, after `bodyBytes`.
        public var isComplete: Bool
    }

    private enum State: Sendable, Equatable {
        case size(digits: Int, value: Int)
        case extensionName(bytes: Int, empty: Bool)
        case extensionValueStart(bytes: Int)
        case extensionToken(bytes: Int, empty: Bool)
        case extensionQuoted(bytes: Int, escaped: Bool)
        case extensionAfterQuoted(bytes: Int)
        case sizeLineFeed(value: Int)
        case data(remaining: Int)
        case dataCarriageReturn
        case dataLineFeed
        case trailerLineStart
        /// `length` bytes of a trailer name so far; `framing` says which of `content-length` (bit 0)
        /// and `transfer-encoding` (bit 1) it could still be.
        case trailerName(length: Int, framing: UInt8)
        case trailerValue
        case trailerLineFeed
        case finalLineFeed
        case done
    }

    public let maxExtensionBytes: Int
    public let maxTrailerBytes: Int
    private var state: State = .size(digits: 0, value: 0)
    private var trailerBytes = 0
    /// Bytes of the body seen so far, for error offsets.
    private var offset = 0

    public init(maxExtensionBytes: Int = 1024, maxTrailerBytes: Int = 32_768) {
        self.maxExtensionBytes = maxExtensionBytes
        self.maxTrailerBytes = maxTrailerBytes
    }

    /// The body has ended (the last chunk and its trailer section were seen).
    public var isComplete: Bool { state == .done }

    /// Reads as much of `buffer` as belongs to the body.
    public mutating func consume(_ buffer: ByteBuffer) throws(HTTPHeadError) -> Progress {
        let result: Result<Progress, HTTPHeadError> = buffer.withUnsafeReadableBytes { bytes in
            var progress = Progress(bodyBytes: 0, dataBytes: 0, isComplete: false)
            do throws(HTTPHeadError) {
                while progress.bodyBytes < bytes.count, !progress.isComplete {
                    let piece = try next(UnsafeRawBufferPointer(rebasing: bytes[progress.bodyBytes...]))
                    progress.bodyBytes += piece.count
                    switch piece {
                    case let .data(count): progress.dataBytes += count
                    case .framing: break
                    case .end: progress.isComplete = true
                    }
                }
            } catch {
                return .failure(error)
            }
            return .success(progress)
        }
        return try result.get()
    }

    /// The next piece at the start of `bytes` (not empty, and the body not complete). Data comes
    /// in one piece as far as it reaches in `bytes`; framing is read byte by byte, as far as the
    /// next data or the end.
    public mutating func next(_ bytes: UnsafeRawBufferPointer) throws(HTTPHeadError) -> Piece {
        precondition(!bytes.isEmpty && state != .done)
        if case let .data(remaining) = state {
            let count = min(remaining, bytes.count)
            state = remaining == count ? .dataCarriageReturn : .data(remaining: remaining - count)
            offset += count
            return .data(count)
        }
        var index = 0
        while index < bytes.count {
            try step(bytes[index])
            index += 1
            offset += 1
            switch state {
            case .data: return .framing(index)
            case .done: return .end(index)
            default: continue
            }
        }
        return .framing(index)
    }

    private mutating func step(_ byte: UInt8) throws(HTTPHeadError) {
        switch state {
        case let .size(digits, value):
            if let digit = Self.hexValue(byte) {
                guard value < 1 << 56 else { throw HTTPHeadError(.chunkSizeOverflow, at: offset) }
                state = .size(digits: digits + 1, value: value << 4 | digit)
            } else if digits > 0, byte == UInt8(ascii: "\r") {
                state = .sizeLineFeed(value: value)
            } else if digits > 0, byte == UInt8(ascii: ";") {
                chunkSize = value
                state = .extensionName(bytes: 1, empty: true)
            } else {
                throw HTTPHeadError(.badChunkSize, at: offset)
            }
        case let .extensionName(bytes, empty):
            try checkExtensionLength(bytes)
            if HTTPToken.isTokenCharacter(byte) {
                state = .extensionName(bytes: bytes + 1, empty: false)
            } else if !empty, byte == UInt8(ascii: "=") {
                state = .extensionValueStart(bytes: bytes + 1)
            } else if !empty {
                try endExtension(byte, bytes: bytes)
            } else {
                throw HTTPHeadError(.badChunkExtension, at: offset)
            }
        case let .extensionValueStart(bytes):
            try checkExtensionLength(bytes)
            if byte == UInt8(ascii: "\"") {
                state = .extensionQuoted(bytes: bytes + 1, escaped: false)
            } else if HTTPToken.isTokenCharacter(byte) {
                state = .extensionToken(bytes: bytes + 1, empty: false)
            } else {
                throw HTTPHeadError(.badChunkExtension, at: offset)
            }
        case let .extensionToken(bytes, _):
            try checkExtensionLength(bytes)
            if HTTPToken.isTokenCharacter(byte) {
                state = .extensionToken(bytes: bytes + 1, empty: false)
            } else {
                try endExtension(byte, bytes: bytes)
            }
        case let .extensionQuoted(bytes, escaped):
            try checkExtensionLength(bytes)
            // qdtext and quoted-pair (RFC 9110 §5.6.4): HTAB, SP, visible ASCII, obs-text.
            guard HTTPHeadParser.isFieldValueByte(byte) else { throw HTTPHeadError(.badChunkExtension, at: offset) }
            if escaped {
                state = .extensionQuoted(bytes: bytes + 1, escaped: false)
            } else if byte == UInt8(ascii: "\"") {
                state = .extensionAfterQuoted(bytes: bytes + 1)
            } else {
                state = .extensionQuoted(bytes: bytes + 1, escaped: byte == UInt8(ascii: "\\"))
            }
        case let .extensionAfterQuoted(bytes):
            try checkExtensionLength(bytes)
            try endExtension(byte, bytes: bytes)
        case let .sizeLineFeed(value):
            guard byte == UInt8(ascii: "\n") else { throw HTTPHeadError(.badChunkSize, at: offset) }
            state = value == 0 ? .trailerLineStart : .data(remaining: value)
        case .data:
            preconditionFailure("data is consumed in bulk")
        case .dataCarriageReturn:
            guard byte == UInt8(ascii: "\r") else { throw HTTPHeadError(.badChunkTerminator, at: offset) }
            state = .dataLineFeed
        case .dataLineFeed:
            guard byte == UInt8(ascii: "\n") else { throw HTTPHeadError(.badChunkTerminator, at: offset) }
            state = .size(digits: 0, value: 0)
        case .trailerLineStart:
            try countTrailerByte()
            if byte == UInt8(ascii: "\r") {
                state = .finalLineFeed
            } else if HTTPToken.isTokenCharacter(byte) {
                state = .trailerName(length: 1, framing: Self.framingCandidates(0b11, byte, at: 0))
            } else {
                throw HTTPHeadError(.badTrailer, at: offset)
            }
        case let .trailerName(length, framing):
            try countTrailerByte()
            if HTTPToken.isTokenCharacter(byte) {
                state = .trailerName(length: length + 1, framing: Self.framingCandidates(framing, byte, at: length))
            } else if byte == UInt8(ascii: ":") {
                // Framing fields are not allowed in trailers (RFC 9110 §6.5.1), and llhttp parses
                // a Content-Length there as if it were one.
                if (framing & 1 != 0 && length == 14) || (framing & 2 != 0 && length == 17) {
                    throw HTTPHeadError(.badTrailer, at: offset)
                }
                state = .trailerValue
            } else {
                throw HTTPHeadError(.badTrailer, at: offset)
            }
        case .trailerValue:
            try countTrailerByte()
            if byte == UInt8(ascii: "\r") {
                state = .trailerLineFeed
            } else if !HTTPHeadParser.isFieldValueByte(byte) {
                throw HTTPHeadError(.badTrailer, at: offset)
            }
        case .trailerLineFeed:
            guard byte == UInt8(ascii: "\n") else { throw HTTPHeadError(.badTrailer, at: offset) }
            state = .trailerLineStart
        case .finalLineFeed:
            guard byte == UInt8(ascii: "\n") else { throw HTTPHeadError(.badTrailer, at: offset) }
            state = .done
        case .done:
            preconditionFailure("the body is complete")
        }
    }

    /// The size of the chunk whose extensions are being read.
    private var chunkSize = 0

    /// After an extension: another one, or the end of the chunk-size line.
    private mutating func endExtension(_ byte: UInt8, bytes: Int) throws(HTTPHeadError) {
        if byte == UInt8(ascii: ";") {
            state = .extensionName(bytes: bytes + 1, empty: true)
        } else if byte == UInt8(ascii: "\r") {
            state = .sizeLineFeed(value: chunkSize)
        } else {
            throw HTTPHeadError(.badChunkExtension, at: offset)
        }
    }

    private func checkExtensionLength(_ bytes: Int) throws(HTTPHeadError) {
        guard bytes < maxExtensionBytes else { throw HTTPHeadError(.badChunkExtension, at: offset) }
    }

    private mutating func countTrailerByte() throws(HTTPHeadError) {
        trailerBytes += 1
        guard trailerBytes <= maxTrailerBytes else { throw HTTPHeadError(.badTrailer, at: offset) }
    }

    /// Narrows which framing field names a trailer name could still be after `byte` at `index`.
    private static func framingCandidates(_ candidates: UInt8, _ byte: UInt8, at index: Int) -> UInt8 {
        var candidates = candidates
        let lower = ASCII.lowercased(byte)
        if candidates & 1 != 0, !Self.matches("content-length", lower, at: index) { candidates &= ~1 }
        if candidates & 2 != 0, !Self.matches("transfer-encoding", lower, at: index) { candidates &= ~2 }
        return candidates
    }

    private static func matches(_ name: StaticString, _ byte: UInt8, at index: Int) -> Bool {
        index < name.utf8CodeUnitCount && name.utf8Start[index] == byte
    }

    @inline(__always)
    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
