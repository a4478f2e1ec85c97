import Testing

@testable import Core

@Suite("Policy value syntax")
struct PolicyValuesTests {
    @Test("durations are a whole number and one unit")
    func durations() {
        #expect(PolicyDuration.parse("250ms") == .milliseconds(250))
        #expect(PolicyDuration.parse("30s") == .seconds(30))
        #expect(PolicyDuration.parse("5m") == .seconds(300))
        #expect(PolicyDuration.parse("1h") == .seconds(3600))
        #expect(PolicyDuration.parse("0s") == .zero)
        for bad in ["", "s", "1.5s", "-1s", "1h30m", "10", "1d", "1 s", "+1s", "9999999999s"] {
            #expect(PolicyDuration.parse(bad) == nil, "\(bad)")
        }
        #expect(PolicyDuration.format(.milliseconds(1500)) == "1500ms")
        #expect(PolicyDuration.format(.seconds(300)) == "5m")
        #expect(PolicyDuration.format(.seconds(7200)) == "2h")
        #expect(PolicyDuration.format(.seconds(45)) == "45s")
    }

    @Test("rates are N per second, minute, hour or day")
    func rates() {
        #expect(Rate(parsing: "10/s") == Rate(tokens: 10, unit: .second))
        #expect(Rate(parsing: "6000/m")?.tokensPerSecond == 100)
        #expect(Rate(parsing: "1000/d")?.windowSeconds == 86400)
        for bad in ["0/s", "10/sec", "10", "/s", "1.5/s", "-1/s", "10/S", "1000000001/s", " 1/s"] {
            #expect(Rate(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test("key parts", arguments: [
        ("ip", KeyPart.ip), ("route", .route), ("method", .method), ("subject", .subject),
        ("claim:tenant", .claim("tenant")), ("header:X-Tenant", .header("x-tenant")),
    ])
    func keyParts(text: String, part: KeyPart) {
        #expect(KeyPart(parsing: text) == part)
    }

    @Test("did-you-mean picks the closest name within a small distance")
    func suggestions() {
        #expect(DidYouMean.suggestion(for: "per-usr", among: ["per-user", "per-ip"]) == "per-user")
        #expect(DidYouMean.suggestion(for: "brust", among: ["burst", "rate"]) == "burst")
        #expect(DidYouMean.suggestion(for: "x", among: ["per-user"]) == nil)
        #expect(DidYouMean.editDistance("kitten", "sitting") == 3)
        #expect(DidYouMean.editDistance("ab", "ba") == 1)
    }
}
