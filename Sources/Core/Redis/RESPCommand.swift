internal import CHiredis
import Foundation

/// Formats a Redis command as RESP bytes with hiredis's `redisFormatCommandArgv`, the formatter the
/// NIO Redis client writes to its channel. Arguments are binary-safe (lengths, not NUL-terminated).
public enum RESPCommand {
    public static func format(_ arguments: [[UInt8]]) -> [UInt8] {
        precondition(!arguments.isEmpty, "a Redis command needs at least its name")
        // hiredis wants parallel arrays of pointers and lengths; keep the storage alive meanwhile.
        let storage = arguments.map { bytes -> UnsafeMutableRawBufferPointer in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            buffer.copyBytes(from: bytes)
            return buffer
        }
        defer { storage.forEach { $0.deallocate() } }
        var argv: [UnsafePointer<CChar>?] = storage.map {
            UnsafePointer($0.baseAddress!.assumingMemoryBound(to: CChar.self))
        }
        var lengths: [Int] = arguments.map(\.count)
        var output: UnsafeMutablePointer<CChar>?
        let length = redisFormatCommandArgv(&output, Int32(arguments.count), &argv, &lengths)
        guard length > 0, let output else { preconditionFailure("redisFormatCommandArgv: out of memory") }
        defer { redisFreeCommand(output) }
        return Array(UnsafeRawBufferPointer(start: output, count: Int(length)))
    }

    public static func format(_ arguments: String...) -> [UInt8] {
        format(arguments.map { Array($0.utf8) })
    }
}
