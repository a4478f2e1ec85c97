internal import COpenSSL

/// OpenSSL reports failures on a per-thread error queue. Reading drains it, so a later, unrelated
/// call on the same thread never reports this failure as its own.
enum OpenSSLErrorQueue {
    static func drain(orElse fallback: String) -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return reasons.isEmpty ? fallback : reasons.joined(separator: "; ")
    }
}
