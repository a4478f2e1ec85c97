/// SplitMix64: a small deterministic generator, so every differential run can be replayed from its
/// seed and a failing case's number.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Heads for the differential run: built from the grammar with the choices a smuggler would try
/// weighted in, and byte mutations of a corpus that holds every smuggling shape of the contract.
struct HeadGenerator {
    var random: SplitMix64
    /// Whether the head being built may carry malformations; half the grammar cases are clean,
    /// so that accepted heads (whose fields and framing are compared) are common too.
    var noisy = true

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }
    /// A malformation's chance: none in a clean head.
    mutating func odd(_ percent: Int) -> Bool { noisy && chance(percent) }
    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &random)] }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }

    // MARK: Corpus

    /// Every smuggling and malformation shape named in proxy.md "Data path", in
    /// the former RequestValidation and InputSafetyTests, and the classic ones from the literature.
    static let requestCorpus: [String] = [
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /plain/items?id=7 HTTP/1.1\r\nHost: api.example\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 44\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +44\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\u{0B}\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tTransfer-Encoding: chunked\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n",
        "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a\r\nX-Bad: a\u{01}b\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a\r\nX-Bad: a\u{00}b\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a\r\nX-Bad: a\u{7F}b\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a\r\nX-Bad: a\rb\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a\r\nX\u{01}Bad: ab\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n",
        "GET /echo HTTP/1.1\nHost: a\n\n",
        "GET /echo HTTP/1.1\r\nHost: a\r\n\n",
        "GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET /echo HTTP/1.1\r\nX-A: b\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost:\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a@b\r\n\r\n",
        "GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer abc.def.ghi\r\nX-Request-Id: r1\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\u{E9} \u{2603}\r\n\r\n",
        "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n:\r\n\r\n",
        "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "DESCRIBE / RTSP/1.0\r\nHost: a\r\n\r\n",
    ]

    static let responseCorpus: [String] = [
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\n",
        "HTTP/1.0 200 OK\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A : b\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        "HTTP/1.1 200 \u{01}K\r\n\r\n",
        "HTTP/1.1 200 OK\r\nSet-Cookie: a=b\r\nSet-Cookie: c=d\r\nContent-Length: 0\r\n\r\n",
    ]

    // MARK: Grammar

    static let commonMethods = ["GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]
    static let oddMethods = [
        "TRACE", "CONNECT", "PROPFIND", "M-SEARCH", "QUERY", "SOURCE", "PRI", "get", "Get", "FETCH", "GETS", "GE", "G",
        "DESCRIBE", "SETUP", "PLAY", "ACL", "MKCALENDAR", "UNLINK", "PURGE", "HEAD\t", "POST ", "-", "X_Y",
    ]
    static let knownNames = [
        "Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Expect", "Authorization",
        "X-Request-Id", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "traceparent", "Keep-Alive",
        "TE", "Trailer", "Proxy-Connection", "Proxy-Authorization", "Accept", "User-Agent", "Cookie", "X-User",
    ]
    static let valueBytes: [UInt8] = Array("abcXYZ019 -_.,;:=/\"'()<>@[]{}?*+%!~".utf8)
    static let oddBytes: [UInt8] = [0x00, 0x01, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1F, 0x20, 0x22, 0x2C, 0x3A, 0x3B, 0x7F, 0x80, 0xC3, 0xA9, 0xFF]

    mutating func method() -> String {
        !odd(10) ? pick(Self.commonMethods) : chance(50) ? pick(Self.oddMethods) : pick(HTTPMethodNames.all)
    }

    mutating func target() -> [UInt8] {
        if chance(3) { return Array("*".utf8) }
        var target: [UInt8] = chance(5) ? Array("http://a.example:8080".utf8) : []
        target.append(UInt8(ascii: "/"))
        let pathBytes = Array("abcdefxyz0123456789/-._~%?=&#!$'()*+,;:@[]|\\^`{}".utf8)
        for _ in 0..<int(0...24) { target.append(pick(pathBytes)) }
        if odd(4) { target.insert(pick(Self.oddBytes), at: int(0...target.count)) }
        return target
    }

    mutating func version() -> String {
        if !odd(8) { return chance(85) ? "HTTP/1.1" : "HTTP/1.0" }
        return pick(["HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "HTTP/1.1 ", "HTTP/11", "http/1.1", "HTTP/1.", "HTTP/1.1\t", "HTTP/9.9", "RTSP/1.0", "HTTP/ 1.1"])
    }

    mutating func name() -> [UInt8] {
        if chance(60) {
            var name = Array(pick(Self.knownNames).utf8)
            if chance(30) { name = name.map { chance(50) ? ($0 &- 0x61 < 26 ? $0 - 0x20 : $0 &- 0x41 < 26 ? $0 + 0x20 : $0) : $0 } }
            return name
        }
        let tchars = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~".utf8)
        var name = (0..<int(1...12)).map { _ in pick(tchars) }
        if odd(5) { name.insert(pick(Self.oddBytes + Array("()<>@,;\\\"/[]?={} ".utf8)), at: int(0...name.count)) }
        if odd(1) { name = [] }
        return name
    }

    mutating func value(for name: [UInt8]) -> [UInt8] {
        let lower = String(decoding: name.map { $0 &- 0x41 < 26 ? $0 + 0x20 : $0 }, as: UTF8.self)
        var value: [UInt8]
        switch lower {
        case "content-length" where !noisy:
            value = Array(pick(["0", "5", "12", "007", "100000", "999999999999999999", " 5", "5 ", "\t5\t"]).utf8)
        case "content-length" where chance(80):
            value = Array(pick(["0", "5", "12", "007", "100000", "18446744073709551615", "18446744073709551616", "999999999999999999", "1234567890123456789",
                                "", "+5", "-5", "5 5", "5,5", "5, 5", "0x5", "5.0", " 5", "5 ", "\t5\t", "1e2", "٣"]).utf8)
        case "transfer-encoding" where !noisy:
            value = Array(pick(["chunked", "Chunked", "CHUNKED", " chunked"]).utf8)
        case "transfer-encoding" where chance(80):
            value = Array(pick(["chunked", "chunked", "Chunked", "CHUNKED", "gzip, chunked", "chunked, gzip", "gzip", "identity", "chunked, identity", "chunked,",
                                ",chunked", "chunked;q=1", "chunked chunked", " chunked ", "chunk", "xchunked", "chunked\t", "gzip,chunked", "deflate ,  chunked", ""]).utf8)
        case "host" where !noisy:
            value = Array(pick(["a", "api.example", "a.example:8080", "[::1]:80", "127.0.0.1", "exa_mple", "a:b:c"]).utf8)
        case "host" where chance(85):
            value = Array(pick(["a", "api.example", "a.example:8080", "[::1]:80", "127.0.0.1", "", "a b", "a/b", "a@b", "a:b:c", "exa_mple", "a\tb"]).utf8)
        case "connection" where chance(70):
            value = Array(pick(["close", "keep-alive", "Upgrade", "upgrade, keep-alive", "close, x-user", "TE"]).utf8)
        case "upgrade" where chance(70):
            value = Array(pick(["websocket", "h2c", "WebSocket"]).utf8)
        case "expect" where chance(70):
            value = Array(pick(["100-continue", "100-Continue", "foo"]).utf8)
        default:
            value = (0..<int(0...30)).map { _ in pick(Self.valueBytes) }
        }
        if odd(5) { value.insert(pick(Self.oddBytes), at: int(0...value.count)) }
        if chance(5) { value.append(contentsOf: chance(50) ? [0x20] : [0x09]) }
        if chance(5) { value.insert(chance(50) ? 0x20 : 0x09, at: 0) }
        return value
    }

    mutating func separator() -> [UInt8] {
        !odd(6) ? (chance(80) ? Array(": ".utf8) : Array(":".utf8)) : Array(pick([":\t", " :", ":  ", "::", "\t:", ": \t "]).utf8)
    }

    mutating func lineEnd() -> [UInt8] {
        !odd(2) ? [0x0D, 0x0A] : pick([[0x0A], [0x0D], [0x0D, 0x0D, 0x0A], [0x0A, 0x0D]])
    }

    mutating func fields(request: Bool) -> [UInt8] {
        var out: [UInt8] = []
        var names: [[UInt8]] = []
        if request, !odd(8) { names.append(Array("Host".utf8)) }
        for _ in 0..<int(0...8) { names.append(name()) }
        if chance(20) { names.append(Array(pick(["Content-Length", "Transfer-Encoding"]).utf8)) }
        if odd(10) { names.append(Array(pick(["Content-Length", "Transfer-Encoding", "Host"]).utf8)) }
        names.shuffle(using: &random)
        for name in names {
            if odd(2) { out.append(contentsOf: chance(50) ? [0x20] : [0x09]) }
            out.append(contentsOf: name)
            out.append(contentsOf: separator())
            out.append(contentsOf: value(for: name))
            out.append(contentsOf: lineEnd())
            if odd(2) {
                out.append(contentsOf: chance(50) ? [0x20] : [0x09])
                out.append(contentsOf: value(for: []))
                out.append(contentsOf: lineEnd())
            }
        }
        out.append(contentsOf: !odd(2) ? [0x0D, 0x0A] : lineEnd())
        return out
    }

    mutating func request() -> [UInt8] {
        var out: [UInt8] = []
        if odd(1) { out.append(contentsOf: lineEnd()) }
        out.append(contentsOf: Array(method().utf8))
        out.append(contentsOf: !odd(3) ? [0x20] : pick([[0x20, 0x20], [0x09], []]))
        out.append(contentsOf: target())
        out.append(contentsOf: !odd(3) ? [0x20] : pick([[0x20, 0x20], [0x09], []]))
        out.append(contentsOf: Array(version().utf8))
        out.append(contentsOf: lineEnd())
        out.append(contentsOf: fields(request: true))
        return out
    }

    static let cleanStatuses = [200, 200, 200, 201, 204, 206, 301, 302, 304, 400, 404, 500, 503, 100, 101, 103]
    static let statuses = [200, 200, 200, 201, 204, 206, 301, 302, 304, 400, 404, 500, 503, 100, 101, 102, 103, 199, 299, 599, 600, 999, 0, 99, 1000]

    mutating func response() -> [UInt8] {
        var out = Array(version().utf8)
        out.append(contentsOf: !odd(3) ? [0x20] : pick([[0x20, 0x20], [0x09], []]))
        let status = noisy ? pick(Self.statuses) : pick(Self.cleanStatuses)
        out.append(contentsOf: Array((!odd(3) ? String(status) : pick(["2000", "20", "2x0", "+200", " 200"])).utf8))
        if !odd(5) {
            out.append(0x20)
            out.append(contentsOf: Array((noisy ? pick(["OK", "Not Found", "", "Weird  Reason\t", "caf\u{E9}", "x\u{01}y"]) : pick(["OK", "Not Found", "", "caf\u{E9}"])).utf8))
        }
        out.append(contentsOf: lineEnd())
        out.append(contentsOf: fields(request: false))
        return out
    }

    // MARK: Mutation

    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0..<int(1...4) {
            guard !bytes.isEmpty else { break }
            let at = int(0...(bytes.count - 1))
            switch int(0...7) {
            case 0: bytes[at] = pick(Self.oddBytes)
            case 1: bytes.insert(pick(Self.oddBytes), at: at)
            case 2: bytes.remove(at: at)
            case 3: bytes[at] = bytes[at] &- 0x41 < 26 ? bytes[at] + 0x20 : bytes[at] &- 0x61 < 26 ? bytes[at] - 0x20 : bytes[at]
            case 4: bytes.insert(contentsOf: Array(pick(["\r\n", "\r\n ", ",", ", chunked", "0", "\r\nContent-Length: 5", "\r\nTransfer-Encoding: chunked", "\r\nHost: b"]).utf8), at: at)
            case 5:
                // Duplicate a line.
                let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
                if lines.count > 2 {
                    let line = lines[int(1...(lines.count - 2))]
                    if let cut = bytes.firstIndex(of: 0x0A) { bytes.insert(contentsOf: Array(line) + [0x0A], at: cut + 1) }
                }
            case 6: bytes[at] = UInt8.random(in: 0...255, using: &random)
            default: bytes.insert(contentsOf: [0x20], at: at)
            }
        }
        return bytes
    }

    /// The next case: 50% grammar, 50% mutations of the corpus.
    mutating func next(request: Bool) -> [UInt8] {
        noisy = chance(50)
        if chance(50) { return request ? self.request() : response() }
        let corpus = request ? Self.requestCorpus : Self.responseCorpus
        let seed = chance(30) ? Array(pick(corpus).utf8) : (request ? self.request() : response())
        return mutate(seed)
    }
}

enum HTTPMethodNames {
    static let all: [String] = [
        "DELETE", "GET", "HEAD", "POST", "PUT", "CONNECT", "OPTIONS", "TRACE", "COPY", "LOCK", "MKCOL", "MOVE", "PROPFIND",
        "PROPPATCH", "SEARCH", "UNLOCK", "BIND", "REBIND", "UNBIND", "ACL", "REPORT", "MKACTIVITY", "CHECKOUT", "MERGE",
        "M-SEARCH", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE", "PATCH", "PURGE", "MKCALENDAR", "LINK", "UNLINK", "SOURCE", "QUERY",
    ]
}
