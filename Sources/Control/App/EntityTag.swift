import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Versions as entity tags (RFC 9110 §8.8.3): a resource with a `version` sends `ETag: "<version>"`;
/// a write with `If-Match` goes ahead only when one of its tags (or `*`) matches, else 412.
enum EntityTag {
    static func value(_ version: Int64) -> String { "\"\(version)\"" }

    /// Throws 412 when `ifMatch` (the request's `If-Match`) is not satisfied by `version`. Weak tags
    /// (`W/"…"`) never match: If-Match uses the strong comparison.
    static func check(_ ifMatch: String?, version: Int64) throws {
        guard let ifMatch else { return }
        let current = value(version)
        let tags = ifMatch.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard tags.contains("*") || tags.contains(current) else {
            throw Problem.preconditionFailed("If-Match \(HeaderText.quotable(ifMatch)) does not match the current version \(current)")
        }
    }
}
