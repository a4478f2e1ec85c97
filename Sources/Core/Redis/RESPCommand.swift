internal import CHiredis
import Foundation
import NIOCore

/// Formats a Redis command as RESP bytes with hiredis's `redisFormatCommandArgv`, the formatter the
/// NIO Redis client writes to its channel. Arguments are binary-safe (lengths, not NUL-terminated).
public enum RESPCommand {
    public static func format(_ arguments: [[UInt8]]) -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        format(Arguments(arguments), into: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Formats `arguments` (stored back to back) and appends the command to `buffer`: one
    /// allocation for hiredis's output instead of one per argument.
    static func format(_ arguments: Arguments, into buffer: inout ByteBuffer) {
        withFormatted(arguments) { bytes -> Void in buffer.writeBytes(bytes) }
    }

    /// Formats `arguments` and hands the command's RESP bytes to `body` (hiredis's output, valid only
    /// during the call): for a transport that copies them into a buffer of its own (the data path's
    /// loop connection, `TollgateLoopRedis`).
    public static func withFormatted<Result>(_ arguments: Arguments, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        precondition(!arguments.ends.isEmpty, "a Redis command needs at least its name")
        return arguments.bytes.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!)
            var argv = [UnsafePointer<CChar>?](repeating: nil, count: arguments.ends.count)
            var lengths = [Int](repeating: 0, count: arguments.ends.count)
            var start = 0
            for (index, end) in arguments.ends.enumerated() {
                argv[index] = (base + start).assumingMemoryBound(to: CChar.self)
                lengths[index] = end - start
                start = end
            }
            var output: UnsafeMutablePointer<CChar>?
            let length = redisFormatCommandArgv(&output, Int32(arguments.ends.count), &argv, &lengths)
            guard length > 0, let output else { preconditionFailure("redisFormatCommandArgv: out of memory") }
            defer { redisFreeCommand(output) }
            return body(UnsafeRawBufferPointer(start: output, count: Int(length)))
        }
    }

    /// A command's arguments, stored back to back, built without an array per argument.
    public struct Arguments {
        private(set) var bytes: [UInt8] = []
        private(set) var ends: [Int] = []

        init(capacity: Int) {
            bytes.reserveCapacity(capacity)
        }

        /// The arguments' total size in bytes and their number (a formatted command takes about
        /// `byteCount + 16 * count`).
        public var byteCount: Int { bytes.count }
        public var count: Int { ends.count }

        public init(_ arguments: [[UInt8]]) {
            self.init(capacity: arguments.reduce(0) { $0 + $1.count })
            for argument in arguments {
                bytes.append(contentsOf: argument)
                ends.append(bytes.count)
            }
        }

        mutating func append(_ text: String) {
            var text = text
            text.withUTF8 { bytes.append(contentsOf: $0) }
            ends.append(bytes.count)
        }

        mutating func append(_ number: Int) {
            if number < 0 {
                bytes.append(UInt8(ascii: "-"))
            }
            var magnitude = number.magnitude
            let first = bytes.count
            repeat {
                bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
                magnitude /= 10
            } while magnitude > 0
            bytes[first...].reverse()
            ends.append(bytes.count)
        }

        /// A double as Lua's `tonumber` reads it back exactly: the shortest form that round-trips.
        mutating func append(_ number: Double) {
            if number == number.rounded(.towardZero), number.magnitude < 1e15 {
                append(Int(number))
            } else {
                append(number.description)
            }
        }
    }

    public static func format(_ arguments: String...) -> [UInt8] {
        format(arguments.map { Array($0.utf8) })
    }
}
