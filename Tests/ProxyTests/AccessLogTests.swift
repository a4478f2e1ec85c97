import Testing

@testable import tollgate_proxy

@Suite("Access log writes")
struct AccessLogTests {
    func pieces(_ lines: [Int]) -> [Int] {
        let bytes = lines.flatMap { Array(repeating: UInt8(ascii: "x"), count: $0 - 1) + [UInt8(ascii: "\n")] }
        return bytes.withUnsafeBytes { raw in
            let ranges = AccessLog.atomicPieces(of: raw)
            // Every piece ends a line, and the pieces cover the buffer in order.
            #expect(ranges.allSatisfy { raw[$0.upperBound - 1] == UInt8(ascii: "\n") })
            #expect(ranges.map(\.lowerBound) == [0] + ranges.dropLast().map(\.upperBound))
            #expect(ranges.last?.upperBound == raw.count)
            return ranges.map(\.count)
        }
    }

    @Test("whole lines, at most PIPE_BUF bytes per write, a longer line alone")
    func atomicPieces() {
        #expect(pieces([300]) == [300])
        #expect(pieces(Array(repeating: 300, count: 20)) == [3900, 2100])
        #expect(pieces([4096, 10]) == [4096, 10])
        #expect(pieces([10, 5000, 10]) == [10, 5000, 10])
        #expect(pieces([2000, 2000, 2000]) == [4000, 2000])
    }
}
