import NIOCore
import TollgateLoop

#if canImport(Glibc)
    import Glibc
#endif

/// The bytes one socket of the loop still has to write, as the buffers they came in (a spliced
/// head, body slices of what was read): written with one `sendmsg` of up to 16 of them, the rest
/// kept for the socket's next writable edge. A buffer leaves the queue once written, which lets go
/// of the read buffer it is a slice of.
struct OutboundQueue {
    private var buffers = CircularBuffer<ByteBuffer>(initialCapacity: 8)
    /// Per buffer: whether it goes back to the loop's head buffers once written.
    private var recyclable = CircularBuffer<Bool>(initialCapacity: 8)
    /// Bytes queued and not yet written.
    private(set) var bytes = 0

    /// Above this, the side that feeds the queue stops being read (SwiftNIO's default high mark).
    static let highWater = 64 * 1024
    /// Below this, it is read again.
    static let lowWater = 32 * 1024

    var isEmpty: Bool { bytes == 0 }

    /// `recycle`: a buffer the loop's `headBuffers` gave out, given back once written.
    mutating func append(_ buffer: ByteBuffer, recycle: Bool = false) {
        guard buffer.readableBytes > 0 else { return }
        bytes += buffer.readableBytes
        buffers.append(buffer)
        recyclable.append(recycle)
    }

    mutating func removeAll() {
        buffers.removeAll(keepingCapacity: true)
        recyclable.removeAll(keepingCapacity: true)
        bytes = 0
    }

    enum FlushResult: Equatable {
        /// Everything is written.
        case done
        /// The socket's buffer is full: wait for its writable edge.
        case blocked
        /// The connection is gone (reset) or broken.
        case failed(IOResult)
    }

    /// Writes what the socket takes; written buffers that came from `cache` go back to it.
    mutating func flush(to fd: Int32, recyclingInto cache: LoopBufferCache) -> FlushResult {
        while bytes > 0 {
            let result: IOResult = withUnsafeTemporaryAllocation(of: iovec.self, capacity: 16) { vectors in
                var count = 0
                var index = buffers.startIndex
                while count < 16, index != buffers.endIndex {
                    // The queue holds each buffer (and so its storage) until it is written, and
                    // nothing mutates a queued buffer: the address outlives the closure safely.
                    buffers[index].withUnsafeReadableBytes { raw in
                        vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count)
                    }
                    count += 1
                    index = buffers.index(after: index)
                }
                if count == 1 {
                    return Socket.write(fd, from: vectors[0].iov_base, count: vectors[0].iov_len)
                }
                return Socket.writev(fd, UnsafeMutableBufferPointer(rebasing: vectors[0..<count]))
            }
            switch result {
            case var .transferred(written):
                bytes -= written
                while written > 0 {
                    let first = buffers[buffers.startIndex].readableBytes
                    if written >= first {
                        if recyclable.removeFirst() { cache.recycle(buffers.removeFirst()) } else { buffers.removeFirst() }
                        written -= first
                    } else {
                        buffers[buffers.startIndex].moveReaderIndex(forwardBy: written)
                        written = 0
                    }
                }
            case .wouldBlock:
                return .blocked
            case .endOfFile, .reset, .failed:
                return .failed(result)
            }
        }
        return .done
    }
}

/// Buffers of one loop, kept for reuse (one cache for reads, one for spliced heads). A buffer goes
/// back once nothing else should hold it and is handed out again only if nothing does (checked with
/// `modifyIfUniquelyOwned`, which also empties it), so steady keep-alive traffic uses the same few
/// buffers and allocates none. A buffer some slice still holds (a head an exchange keeps, a body
/// part queued for writing) is dropped instead: its storage goes when the last slice does.
final class LoopBufferCache {
    private var free: [ByteBuffer] = []
    let size: Int
    let maximumCached: Int
    private let allocator = ByteBufferAllocator()

    init(size: Int = 16 * 1024, maximumCached: Int = 256) {
        self.size = size
        self.maximumCached = maximumCached
        free.reserveCapacity(maximumCached)
    }

    /// A buffer with room to read into: `buffer` itself when nothing else holds it (emptied),
    /// else one from the cache or a new one.
    @inline(__always)
    func prepare(_ buffer: inout ByteBuffer?) {
        if buffer != nil, buffer!.modifyIfUniquelyOwned({ $0.clear() }) != nil { return }
        buffer = free.popLast() ?? allocator.buffer(capacity: size)
    }

    /// Back to the cache, when nothing else holds it.
    @inline(__always)
    func recycle(_ buffer: inout ByteBuffer?) {
        guard var held = buffer else { return }
        buffer = nil
        guard free.count < maximumCached, held.modifyIfUniquelyOwned({ $0.clear() }) != nil else { return }
        free.append(held)
    }

    /// A cached buffer, emptied, if there is one nothing else holds any more.
    @inline(__always)
    func take() -> ByteBuffer? {
        while var buffer = free.popLast() {
            if buffer.modifyIfUniquelyOwned({ $0.clear() }) != nil { return buffer }
        }
        return nil
    }

    /// Into the cache once written. Whether something else still holds it (the writer's own
    /// variables, at that moment) is checked when it is taken again, not now.
    @inline(__always)
    func recycle(_ buffer: consuming ByteBuffer) {
        guard free.count < maximumCached else { return }
        free.append(buffer)
    }
}

extension ByteBuffer {
    /// Reads from `fd` into the writable space (at least 1 KiB of it, growing only if less is
    /// left) and returns the bytes read as a slice; the buffer's reader index moves past them.
    @inline(__always)
    mutating func read(from fd: Int32) -> (IOResult, ByteBuffer?, full: Bool) {
        if writableBytes < 1024 { reserveCapacity(minimumWritableBytes: 1024) }
        let room = writableBytes
        var result = IOResult.wouldBlock
        writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { raw in
            result = Socket.read(fd, into: raw.baseAddress!, count: raw.count)
            if case let .transferred(n) = result { return n }
            return 0
        }
        guard case let .transferred(n) = result else { return (result, nil, false) }
        return (result, readSlice(length: n), n == room)
    }
}
