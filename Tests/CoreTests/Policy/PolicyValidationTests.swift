import Foundation
import Testing

@testable import Core

/// One test per class of policy error, each against real files on disk, asserting the exact
/// `FILE:LINE:COL: PATH: message` an operator sees.
@Suite("Policy validation reports")
struct PolicyValidationTests {
    static let unknownKeysFiles: [String: String] = ["a.yaml": """
        version: 1
        route: []
        limits:
          per-ip: { rate: 1/s, key: [ip], brust: 3 }
        routes:
          - name: health
            match: { path: /healthz, method: [GET] }
            auth: none
            timeout: 5s
        """]

    @Test("unknown keys at every level, with a did-you-mean")
    func unknownKeys() throws {
        let fixture = try PolicyFixture(Self.unknownKeysFiles)
        #expect(fixture.errors() == [
            #"a.yaml:2:1: route: unknown key "route" (did you mean "routes"?)"#,
            #"a.yaml:4:35: limits.per-ip: unknown key "brust" (did you mean "burst"?)"#,
            #"a.yaml:7:30: routes[0].match: unknown key "method" (did you mean "methods"?)"#,
            #"a.yaml:9:5: routes[0]: unknown key "timeout""#,
        ])
        #expect(Set(fixture.codes()) == [.unknownKey])
    }

    static let wrongTypesFiles: [String: String] = ["a.yaml": """
        version: "1"
        flags:
          beta: { enabled: yes, rollout: fifty }
        limits:
          per-ip: { rate: 1/s, key: ip }
        routes:
          - name: [health]
            match: { path: /healthz }
            auth: none
        """]

    @Test("wrong types, without YAML 1.1's yes/no booleans")
    func wrongTypes() throws {
        let fixture = try PolicyFixture(Self.wrongTypesFiles)
        #expect(fixture.errors() == [
            #"a.yaml:1:10: version: expected an integer, got a string "1""#,
            #"a.yaml:3:20: flags.beta.enabled: expected a boolean (true or false), got a string "yes""#,
            #"a.yaml:3:34: flags.beta.rollout: expected an integer, got a string "fifty""#,
            #"a.yaml:5:29: limits.per-ip.key: expected a list, got a string "ip""#,
            #"a.yaml:7:11: routes[0].name: expected a string, got a list"#,
        ])
        #expect(Set(fixture.codes()) == [.wrongType])
    }

    static let badDurationsFiles: [String: String] = ["a.yaml": """
        version: 1
        issuers:
          idp:
            issuer: idp
            jwks_url: https://idp.example.com/jwks
            clock_skew: 30 sec
            refresh: 1h30m
          other:
            issuer: other
            jwks_url: https://other.example.com/jwks
            refresh: 500ms
        \(minimalRoute)
        """]

    @Test("bad durations")
    func badDurations() throws {
        let fixture = try PolicyFixture(Self.badDurationsFiles)
        #expect(fixture.errors() == [
            #"a.yaml:6:17: issuers.idp.clock_skew: invalid duration "30 sec": use a whole number and ms, s, m or h (e.g. 250ms, 30s, 5m, 1h)"#,
            #"a.yaml:7:14: issuers.idp.refresh: invalid duration "1h30m": use a whole number and ms, s, m or h (e.g. 250ms, 30s, 5m, 1h)"#,
            #"a.yaml:11:14: issuers.other.refresh: duration 500ms is too short (at least 1s)"#,
        ])
        #expect(Set(fixture.codes()) == [.badDuration])
    }

    static let badRatesFiles: [String: String] = ["a.yaml": """
        version: 1
        limits:
          a: { rate: 10/sec, key: [ip] }
          b: { rate: 0/s, key: [ip] }
          c: { rate: 10, key: [ip] }
          d: { rate: -1/m, key: [ip] }
        \(minimalRoute)
        """]

    @Test("bad rates")
    func badRates() throws {
        let fixture = try PolicyFixture(Self.badRatesFiles)
        let usage = "use N/s, N/m, N/h or N/d with N from 1 to 1000000000 (e.g. 10/s)"
        #expect(fixture.errors() == [
            #"a.yaml:3:14: limits.a.rate: invalid rate "10/sec": "# + usage,
            #"a.yaml:4:14: limits.b.rate: invalid rate "0/s": "# + usage,
            #"a.yaml:5:14: limits.c.rate: invalid rate "10": "# + usage,
            #"a.yaml:6:14: limits.d.rate: invalid rate "-1/m": "# + usage,
        ])
        #expect(Set(fixture.codes()) == [.badRate])
    }

    static let duplicateNamesFiles: [String: String] = [
        "a.yaml": """
            version: 1
            issuers:
              legacy: { issuer: legacy, secret_env: LEGACY_SECRET }
            limits:
              per-ip: { rate: 1/s, key: [ip] }
            flags:
              beta: { enabled: true }
            \(minimalRoute)
            """,
        "b/c.yaml": """
            version: 1
            issuers:
              legacy: { issuer: other, secret_env: OTHER_SECRET }
            limits:
              per-ip: { rate: 2/s, key: [ip] }
            flags:
              beta: { enabled: false }
            routes:
              - name: health
                match: { path: /health }
                auth: none
            """,
    ]

    @Test("duplicate names across files, reported where the second stands")
    func duplicateNames() throws {
        let fixture = try PolicyFixture(Self.duplicateNamesFiles)
        #expect(fixture.errors() == [
            #"b/c.yaml:3:3: issuers.legacy: issuer "legacy" is already defined at a.yaml:3:3"#,
            #"b/c.yaml:5:3: limits.per-ip: limit "per-ip" is already defined at a.yaml:5:3"#,
            #"b/c.yaml:7:3: flags.beta: flag "beta" is already defined at a.yaml:7:3"#,
            #"b/c.yaml:9:11: routes[0].name: route "health" is already defined at a.yaml:9:11"#,
        ])
        #expect(Set(fixture.codes()) == [.duplicateName])
    }

    static let duplicateYAMLKeyFiles: [String: String] = ["a.yaml": """
        version: 1
        limits:
          per-ip: { rate: 1/s, key: [ip] }
          per-ip: { rate: 2/s, key: [ip] }
        \(minimalRoute)
        """]

    @Test("a key repeated within one mapping is a YAML error at the repeat")
    func duplicateYAMLKey() throws {
        let fixture = try PolicyFixture(Self.duplicateYAMLKeyFiles)
        #expect(fixture.errors() == [#"a.yaml:4:3: $: duplicate key "per-ip" (first at line 3)"#])
        #expect(fixture.codes() == [.yamlSyntax])
    }

    static let unknownReferencesFiles: [String: String] = [
        "defs.yaml": """
            version: 1
            issuers:
              control: { issuer: c, jwks_url: "http://127.0.0.1:7000/jwks" }
            limits:
              per-user: { rate: 1/s, key: [subject] }
            flags:
              orders-v2: { enabled: true }
            """,
        "routes.yaml": """
            version: 1
            routes:
              - name: r
                match: { prefix: /v1 }
                auth: { issuers: [contrl, somebody] }
                flag: { name: orders-v3 }
                limits:
                  - per-usr
                  - per-tenant
            """,
    ]

    @Test("references to unknown issuers, limits and flags, with a did-you-mean for near misses")
    func unknownReferences() throws {
        let fixture = try PolicyFixture(Self.unknownReferencesFiles)
        #expect(fixture.errors() == [
            #"routes.yaml:5:23: routes[0].auth.issuers[0]: unknown issuer "contrl" (did you mean "control"?)"#,
            #"routes.yaml:5:31: routes[0].auth.issuers[1]: unknown issuer "somebody""#,
            #"routes.yaml:6:19: routes[0].flag.name: unknown flag "orders-v3" (did you mean "orders-v2"?)"#,
            #"routes.yaml:8:9: routes[0].limits[0]: unknown limit "per-usr" (did you mean "per-user"?)"#,
            #"routes.yaml:9:9: routes[0].limits[1]: unknown limit "per-tenant""#,
        ])
        #expect(Set(fixture.codes()) == [.unknownReference])
    }

    static let matchKindsFiles: [String: String] = ["a.yaml": """
        version: 1
        routes:
          - name: none
            match: { methods: [GET] }
            auth: none
          - name: two
            match: { path: /a, prefix: /a }
            auth: none
          - name: three
            match:
              path: /a
              prefix: /a
              regex: ^/a$
            auth: none
        """]

    @Test("match with none, or more than one, of path / prefix / regex")
    func matchKinds() throws {
        let fixture = try PolicyFixture(Self.matchKindsFiles)
        #expect(fixture.errors() == [
            "a.yaml:4:12: routes[0].match: needs exactly one of path, prefix or regex; none is set",
            "a.yaml:7:12: routes[1].match: needs exactly one of path, prefix or regex; it sets path and prefix",
            "a.yaml:11:7: routes[2].match: needs exactly one of path, prefix or regex; it sets path and prefix and regex",
        ])
        #expect(Set(fixture.codes()) == [.matchKind])
    }

    static let badPatternsFiles: [String: String] = ["a.yaml": """
        version: 1
        routes:
          - name: r
            match:
              regex: '^/v1/(orders$'
              headers: { x-tenant: '[a-z', X-Ok: '^ok$' }
            auth: none
        """]

    @Test("PCRE2 patterns that do not compile, with PCRE2's message and offset")
    func badPatterns() throws {
        let fixture = try PolicyFixture(Self.badPatternsFiles)
        #expect(fixture.errors() == [
            "a.yaml:5:14: routes[0].match.regex: invalid regex: missing closing parenthesis at offset 13",
            "a.yaml:6:28: routes[0].match.headers.x-tenant: invalid regex: missing terminating ] for character class at offset 4",
        ])
        #expect(Set(fixture.codes()) == [.badPattern])
    }

    static let badAlgorithmsFiles: [String: String] = ["a.yaml": """
        version: 1
        issuers:
          public:
            issuer: p
            jwks_url: https://idp.example.com/jwks
            algorithms: [none, ES257, HS256]
          shared:
            issuer: s
            secret_env: SHARED_SECRET
            algorithms: [NONE, RS256]
        \(minimalRoute)
        """]

    @Test("algorithms that are unsupported, none, or confusable with the key source")
    func badAlgorithms() throws {
        let fixture = try PolicyFixture(Self.badAlgorithmsFiles)
        #expect(fixture.errors() == [
            #"a.yaml:6:18: issuers.public.algorithms[0]: algorithm "none" is never accepted: tokens must be signed"#,
            #"a.yaml:6:24: issuers.public.algorithms[1]: unsupported algorithm "ES257" (did you mean "ES256"?); supported: HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA"#,
            "a.yaml:6:31: issuers.public.algorithms[2]: HS256 is an HMAC algorithm and needs secret_env; with public keys it would allow algorithm confusion",
            #"a.yaml:10:18: issuers.shared.algorithms[0]: algorithm "none" is never accepted: tokens must be signed"#,
            "a.yaml:10:24: issuers.shared.algorithms[1]: RS256 needs a public key, but this issuer has only secret_env (an HMAC secret)",
        ])
        #expect(Set(fixture.codes()) == [.badAlgorithm])
    }

    static let issuerKeySourcesFiles: [String: String] = ["a.yaml": """
        version: 1
        issuers:
          nothing:
            issuer: n
          both:
            issuer: b
            jwks_url: https://idp.example.com/jwks
            secret_env: B_SECRET
        \(minimalRoute)
        """]

    @Test("an issuer with zero, or two, of jwks_url / keys / secret_env")
    func issuerKeySources() throws {
        let fixture = try PolicyFixture(Self.issuerKeySourcesFiles)
        #expect(fixture.errors() == [
            "a.yaml:4:5: issuers.nothing: needs exactly one of jwks_url, keys or secret_env; none is set",
            "a.yaml:6:5: issuers.both: needs exactly one of jwks_url, keys or secret_env; it sets jwks_url and secret_env",
        ])
        #expect(Set(fixture.codes()) == [.issuerKeySource])
    }

    static let keyFilesFiles: [String: String] = ["a.yaml": """
        version: 1
        issuers:
          partner:
            issuer: partner
            algorithms: [RS256, EdDSA]
            keys:
              - keys/missing.pem
              - keys/private.pem
              - keys/weak.pem
              - keys/p384.pem
              - keys/garbage.pem
              - keys/private-jwks.json
              - keys/rsa.pem
              - keys/jwks.json
        \(minimalRoute)
        """]

    @Test("key files that are missing, private, weak, malformed or unusable by the algorithms")
    func keyFiles() throws {
        let fixture = try PolicyFixture(Self.keyFilesFiles)
        try fixture.copyKey("p256-private.pem", to: "keys/private.pem")
        try fixture.copyKey("rsa1024.pem", to: "keys/weak.pem")
        try fixture.copyKey("p384.pem", to: "keys/p384.pem")
        try fixture.copyKey("not-a-key.pem", to: "keys/garbage.pem")
        try fixture.copyKey("jwks-private.json", to: "keys/private-jwks.json")
        try fixture.copyKey("rsa2048.pem", to: "keys/rsa.pem")
        try fixture.copyKey("jwks.json", to: "keys/jwks.json")
        #expect(fixture.errors() == [
            #"a.yaml:7:9: issuers.partner.keys[0]: key file "keys/missing.pem" does not exist (looked for keys/missing.pem)"#,
            #"a.yaml:8:9: issuers.partner.keys[1]: key file "keys/private.pem" holds a private key; give the verifier the public key only"#,
            #"a.yaml:9:9: issuers.partner.keys[2]: key file "keys/weak.pem" holds an RSA key of 1024 bits; at least 2048 are required"#,
            #"a.yaml:10:9: issuers.partner.keys[3]: key file "keys/p384.pem" holds an EC P-384 key, which none of the issuer's algorithms (RS256, EdDSA) can use"#,
            #"a.yaml:11:9: issuers.partner.keys[4]: key file "keys/garbage.pem" holds no PEM public key (-----BEGIN PUBLIC KEY-----); a JWKS file must end in .json"#,
            #"a.yaml:12:9: issuers.partner.keys[5]: key file "keys/private-jwks.json" keys[0] (kid "ec-1") holds private or secret key material"#,
            #"a.yaml:14:9: issuers.partner.keys[7]: key file "keys/jwks.json" keys[1] (kid "ec-1") holds an EC P-256 key, which none of the issuer's algorithms (RS256, EdDSA) can use"#,
        ])
        #expect(Set(fixture.codes()) == [.keyFile])
    }

    static let serviceMismatchFiles: [String: String] = [
        "a.yaml": "version: 1\nservice: orders\n" + minimalRoute,
        "b.yaml": "version: 1\nservice: orders\n",
        "c.yaml": "version: 1\nservice: payments\n",
    ]

    @Test("files that disagree on service")
    func serviceMismatch() throws {
        let fixture = try PolicyFixture(Self.serviceMismatchFiles)
        #expect(fixture.errors() == [
            #"c.yaml:2:10: service: service "payments" disagrees with "orders" set at a.yaml:2:10"#,
        ])
        #expect(fixture.codes() == [.serviceMismatch])
    }

    static let noRoutesFiles: [String: String] = [
        "a.yaml": "version: 1\nroutes: []\n",
        "b.yaml": "version: 1\nflags: { beta: { enabled: true } }\n",
    ]

    @Test("a set with no route anywhere")
    func noRoutes() throws {
        let fixture = try PolicyFixture(Self.noRoutesFiles)
        #expect(fixture.errors() == [
            "\(fixture.path): routes: no file defines a route: every request would be refused with 404",
        ])
        #expect(fixture.codes() == [.noRoutes])
    }

    static let yamlSyntaxFiles: [String: String] = ["a.yaml": """
        version: 1
        routes:
          - name: r
            match: { path: /a
            auth: none
        """]

    @Test("YAML syntax errors point at where the parser stopped")
    func yamlSyntax() throws {
        let fixture = try PolicyFixture(Self.yamlSyntaxFiles)
        #expect(fixture.errors() == [
            "a.yaml:5:9: $: invalid YAML: did not find expected ',' or '}' (while parsing a flow mapping at line 4, column 12)",
        ])
        #expect(fixture.codes() == [.yamlSyntax])
    }

    static let versionsAndUnreadableFilesFiles: [String: String] = [
        "a.yaml": minimalRoute,
        "b.yaml": "version: 2\n",
        "c.yaml": "# nothing here yet\n",
    ]

    @Test("a missing or unsupported version, and files that are empty or not UTF-8")
    func versionsAndUnreadableFiles() throws {
        let fixture = try PolicyFixture(Self.versionsAndUnreadableFilesFiles)
        try fixture.write("d.yaml", Data([0x76, 0xFF, 0xFE, 0x0A]))
        #expect(fixture.errors() == [
            #"a.yaml:1:1: version: missing required key "version""#,
            "b.yaml:1:10: version: unsupported version 2 (this sidecar reads version 1)",
            #"c.yaml:1:1: $: empty policy file: expected a mapping with "version: 1""#,
            "d.yaml: file is not valid UTF-8",
        ])
    }

    static let badModesFiles: [String: String] = ["a.yaml": """
        version: 1
        limits:
          per-ip: { rate: 1/s, key: [ip], mode: dry-run }
        routes:
          - name: r
            match: { path: /r }
            auth: none
            mode: Shadow
        """]

    @Test("a mode other than enforce or shadow")
    func badModes() throws {
        let fixture = try PolicyFixture(Self.badModesFiles)
        #expect(fixture.errors() == [
            #"a.yaml:3:41: limits.per-ip.mode: mode must be enforce or shadow, got "dry-run""#,
            #"a.yaml:8:11: routes[0].mode: mode must be enforce or shadow, got "Shadow""#,
        ])
    }

    static let invalidValuesFiles: [String: String] = ["a.yaml": """
        version: 1
        limits:
          "per user": { rate: 1/s, key: [ip] }
          expensive: { rate: 1/s, burst: 2, cost: 3, key: [claim:sub, nobody], on_error: fail }
        routes:
          - name: r
            match: { path: /v1/./a, methods: [get, GET, GET] }
            auth: none
            limits: [expensive]
            forward: { claims: { sub: x-user } }
          - name: s
            match: { prefix: /v1/%7Eme, host: "http://x" }
            auth: yes
            flag: { name: beta, deny_status: 302 }
        """]

    @Test("invalid values of the right type")
    func invalidValues() throws {
        let fixture = try PolicyFixture(Self.invalidValuesFiles)
        #expect(fixture.errors() == [
            #"a.yaml:3:3: limits.per user: invalid name "per user": use letters, digits, ".", "_" and "-", starting with a letter or digit (at most 128)"#,
            "a.yaml:4:43: limits.expensive.cost: cost 3 exceeds burst 2: no request could ever pass",
            #"a.yaml:4:63: limits.expensive.key[1]: unknown key part "nobody"; use ip, route, method, subject, claim:NAME, header:NAME"#,
            #"a.yaml:4:82: limits.expensive.on_error: on_error must be allow or deny, got "fail""#,
            #"a.yaml:7:20: routes[0].match.path: path "/v1/./a" is not normalized; write "/v1/a" (requests are matched after dot-segment removal and decoding of unreserved characters)"#,
            #"a.yaml:7:39: routes[0].match.methods[0]: invalid method "get": methods are case-sensitive upper-case tokens, e.g. "GET""#,
            "a.yaml:7:49: routes[0].match.methods[2]: method GET is listed twice",
            "a.yaml:10:24: routes[0].forward.claims: forward.claims needs a verified token, but this route has auth: none",
            #"a.yaml:12:22: routes[1].match.prefix: path "/v1/%7Eme" is not normalized; write "/v1/~me" (requests are matched after dot-segment removal and decoding of unreserved characters)"#,
            #"a.yaml:12:39: routes[1].match.host: invalid host "http://x": give a host name without port or scheme, optionally starting with "*.""#,
            #"a.yaml:13:11: routes[1].auth: auth must be "none" or a mapping with issuers, got "yes""#,
            #"a.yaml:14:19: routes[1].flag.name: unknown flag "beta""#,
            "a.yaml:14:38: routes[1].flag.deny_status: 302 is out of range (400...599)",
        ])
    }
}
