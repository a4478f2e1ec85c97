import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// RFC 3339 out, RFC 3339 or Unix milliseconds in.
enum Timestamp {
    static func rfc3339(_ milliseconds: Int64) -> String {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            .formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }

    static func parse(_ text: String) -> Int64? {
        if let milliseconds = Int64(text) { return milliseconds }
        let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
        let plain = Date.ISO8601FormatStyle(timeZone: .gmt)
        guard let date = (try? withFraction.parse(text)) ?? (try? plain.parse(text)) else { return nil }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
