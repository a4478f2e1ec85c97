import Foundation
import Testing

@testable import Core

@Suite("A valid policy set becomes a snapshot")
struct PolicySnapshotTests {
    static let files: [String: String] = [
        "b/routes.yaml": """
            version: 1
            service: orders
            routes:
              - name: orders-write
                match:
                  regex: '^/v1/orders/[0-9]+$'
                  methods: [POST, PUT]
                  host: '*.Example.com'
                  headers: { X-Tenant: '^[a-z]+$' }
                auth:
                  issuers: [legacy]
                  scopes: [orders.write]
                  claims: { tier: [gold, 2, true] }
                flag: { name: beta }
                limits: [per-user, per-ip]
                forward: { claims: { sub: X-User-Id } }
              - name: public
                match: { prefix: /docs }
                auth: none
            """,
        "a.yaml": """
            version: 1
            service: orders
            issuers:
              legacy: { issuer: legacy, secret_env: LEGACY_SECRET }
            limits:
              per-user: { rate: 10/s, key: [claim:sub, header:X-Tenant] }
              per-ip: { rate: 100/m, burst: 5, cost: 2, key: [ip], on_error: deny, local: true }
            flags:
              beta: { enabled: true, rollout: 25 }
            routes:
              - name: health
                match: { path: /healthz }
                auth: none
            """,
    ]

    @Test("routes keep file order, and references resolve to their definitions with defaults applied")
    func resolvesRoutes() throws {
        let fixture = try PolicyFixture(Self.files)
        let snapshot = try fixture.load()
        #expect(snapshot.service == "orders")
        #expect(snapshot.routes.map(\.name) == ["health", "orders-write", "public"])
        #expect(snapshot.files.map(\.path) == ["a.yaml", "b/routes.yaml"])
        #expect(snapshot.summary == "2 files, 3 routes, 2 limits, 1 issuer, 1 flag")

        let write = snapshot.routes[1]
        #expect(write.match.methods == ["POST", "PUT"])
        #expect(write.match.host == .wildcardSuffix(".example.com"))
        #expect(write.match.headers.map(\.name) == ["x-tenant"])
        guard case let .regex(regex) = write.match.path else {
            Issue.record("expected a regex match")
            return
        }
        #expect(regex.isMatch("/v1/orders/42"))
        #expect(!regex.isMatch("/v1/orders/42/items"))
        guard case let .required(requirement) = write.auth else {
            Issue.record("expected a token requirement")
            return
        }
        #expect(requirement.issuers.map(\.name) == ["legacy"])
        #expect(requirement.issuers[0].algorithms == [.hs256])
        #expect(requirement.issuers[0].keySource == .secretEnvironment("LEGACY_SECRET"))
        #expect(requirement.issuers[0].clockSkew == .seconds(30))
        #expect(requirement.scopes == ["orders.write"])
        #expect(requirement.claims == [ClaimRule(claim: "tier", allowed: [.string("gold"), .integer(2), .boolean(true)])])
        #expect(requirement.optional == false)
        #expect(write.flag == FlagGate(flag: snapshot.flags["beta"]!, denyStatus: 404))
        #expect(write.forward == ForwardPolicy(claims: [.init(claim: "sub", header: "x-user-id")], stripAuthorization: true))

        let perUser = write.limits[0], perIP = write.limits[1]
        #expect(perUser.name == "per-user")
        #expect(perUser.rate == Rate(tokens: 10, unit: .second))
        #expect(perUser.burst == 10, "burst defaults to the rate's number")
        #expect(perUser.cost == 1)
        #expect(perUser.onError == .allow)
        #expect(perUser.local == false)
        #expect(perUser.key == [.claim("sub"), .header("x-tenant")])
        #expect(perIP.burst == 5 && perIP.cost == 2 && perIP.onError == .deny && perIP.local)

        guard case .none = snapshot.routes[2].auth, case .prefix("/docs") = snapshot.routes[2].match.path else {
            Issue.record("expected a public prefix route")
            return
        }
        #expect(snapshot.routes[0].location.line == 11)
    }

    @Test("the hash depends on content only, and covers the key files")
    func hash() throws {
        let files = [
            "a.yaml": """
                version: 1
                issuers:
                  partner: { issuer: p, keys: [keys/p256.pem] }
                \(minimalRoute)
                """,
        ]
        let first = try PolicyFixture(files), second = try PolicyFixture(files)
        try first.copyKey("p256.pem", to: "keys/p256.pem")
        try second.copyKey("p256.pem", to: "keys/p256.pem")
        let hash = try first.load().hash
        #expect(hash.count == 64)
        #expect(try second.load().hash == hash, "same content in another directory, same hash")
        #expect(try first.load().keyFiles.map(\.path) == ["keys/p256.pem"])

        try second.copyKey("ed25519.pem", to: "keys/p256.pem")
        try second.write("a.yaml", files["a.yaml"]!.replacingOccurrences(of: "partner: { issuer: p,", with: "partner: { issuer: p, algorithms: [EdDSA],"))
        try first.write("a.yaml", files["a.yaml"]!.replacingOccurrences(of: "partner: { issuer: p,", with: "partner: { issuer: p, algorithms: [EdDSA],"))
        try first.copyKey("ed25519.pem", to: "keys/p256.pem")
        #expect(try second.load().hash == first.load().hash)
        try first.copyKey("p256.pem", to: "other.pem")  // not referenced: not part of the set
        #expect(try second.load().hash == first.load().hash)
        let before = try first.load().hash
        try first.write("keys/p256.pem", try Data(contentsOf: Fixtures.keys.appendingPathComponent("ed25519.pem")) + Data("\n".utf8))
        #expect(try first.load().hash != before, "a changed key file changes the hash")
    }

    static let configMapLayoutFiles: [String: String] = ["..2026_11_21_10_00_00.1/orders.yaml": "version: 1\n" + minimalRoute]

    @Test("hidden entries are skipped, so a mounted Kubernetes ConfigMap loads each file once")
    func configMapLayout() throws {
        // A ConfigMap volume: the visible files are symlinks into ..data, itself a symlink to a
        // timestamped folder.
        let fixture = try PolicyFixture(Self.configMapLayoutFiles)
        let manager = FileManager.default
        try manager.createSymbolicLink(atPath: fixture.path + "/..data", withDestinationPath: "..2026_11_21_10_00_00.1")
        try manager.createSymbolicLink(atPath: fixture.path + "/orders.yaml", withDestinationPath: "..data/orders.yaml")
        try fixture.write(".git/config.yaml", "not: a policy")
        try fixture.write("notes.txt", "not yaml")
        let snapshot = try fixture.load()
        #expect(snapshot.files.map(\.path) == ["orders.yaml"])
        #expect(snapshot.routes.map(\.name) == ["health"])
    }

    @Test("a missing directory and an empty one are clear errors")
    func missingDirectory() throws {
        do {
            _ = try PolicyLoader.load(directory: "/nonexistent/tollgate-policies")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "/nonexistent/tollgate-policies: cannot read the policy directory: no such directory")
        }
        let empty = try PolicyFixture([:])
        #expect(empty.errors() == ["\(empty.path): no policy files (*.yaml, *.yml) in this directory"])
    }

    static let shadowFiles: [String: String] = ["a.yaml": """
        version: 1
        limits:
          per-tenant: { rate: 50/s, key: [header:x-tenant], mode: shadow }
          per-ip: { rate: 10/s, key: [ip], mode: enforce }
          plain: { rate: 1/s, key: [ip] }
        routes:
          - name: trial
            match: { prefix: /v3 }
            mode: shadow
            auth: none
            limits: [per-tenant, per-ip]
          - name: enforced
            match: { prefix: /v1 }
            auth: none
            limits: [plain]
        """]

    @Test("mode: shadow on routes and limits; enforce by default")
    func shadowModes() throws {
        let snapshot = try PolicyFixture(Self.shadowFiles).load()
        #expect(snapshot.routes.map(\.mode) == [.shadow, .enforce])
        #expect(snapshot.limits["per-tenant"]?.mode == .shadow)
        #expect(snapshot.limits["per-ip"]?.mode == .enforce)
        #expect(snapshot.limits["plain"]?.mode == .enforce)
    }

    @Test("the example policies in the repository validate")
    func examplePolicies() throws {
        let snapshot = try PolicyLoader.load(directory: Fixtures.repository.appendingPathComponent("policies").path)
        #expect(snapshot.service == "orders")
        #expect(Set(snapshot.issuers.values.map { issuer -> String in
            switch issuer.keySource {
            case .jwksURL: "jwks_url"
            case .keyFiles: "keys"
            case .secretEnvironment: "secret_env"
            }
        }) == ["jwks_url", "keys", "secret_env"])
        #expect(snapshot.files.count >= 3)
        #expect(!snapshot.routes.isEmpty && !snapshot.limits.isEmpty && !snapshot.flags.isEmpty)
    }

    @Test("display paths keep the directory as the operator typed it")
    func displayPrefix() {
        #expect(PolicyLoader.displayPrefix(for: "policies") == "policies/")
        #expect(PolicyLoader.displayPrefix(for: "policies//") == "policies/")
        #expect(PolicyLoader.displayPrefix(for: "./policies") == "./policies/")
        #expect(PolicyLoader.displayPrefix(for: ".") == "")
        #expect(PolicyLoader.displayPrefix(for: "/") == "/")
    }
}

@Suite("Policy rules that span files")
struct PolicyCrossChecksTests {
    static let tokenKeyedLimitOnPublicRouteFiles: [String: String] = ["a.yaml": """
        version: 1
        limits:
          per-user: { rate: 1/s, key: [claim:sub, ip] }
        routes:
          - name: public
            match: { prefix: /docs }
            auth: none
            limits: [per-user]
        """]

    @Test("a limit keyed on the token is refused on a route without auth")
    func tokenKeyedLimitOnPublicRoute() throws {
        let fixture = try PolicyFixture(Self.tokenKeyedLimitOnPublicRouteFiles)
        #expect(fixture.errors() == [
            #"a.yaml:8:14: routes[0].limits[0]: limit "per-user" is keyed on claim:sub, which a request without a token never has; with auth: none it would never apply"#,
        ])
    }

    static let authIsRequiredFiles: [String: String] = ["a.yaml": """
        version: 1
        routes:
          - name: public
            match: { prefix: /docs }
        """]

    @Test("a route must say its auth, even when it is none")
    func authIsRequired() throws {
        let fixture = try PolicyFixture(Self.authIsRequiredFiles)
        #expect(fixture.errors() == [#"a.yaml:3:5: routes[0]: missing required key "auth" (write auth: none for a public route)"#])
    }

    static let everyErrorAtOnceFiles: [String: String] = [
        "b.yaml": "version: 1\nlimits:\n  x: { rate: 1/w, key: [ip] }\n",
        "a.yaml": "version: 1\nroutes:\n  - name: r\n    match: { path: /a }\n    auth: none\n    limits: [y]\n    extra: 1\n",
        "c/d.yaml": "version: 1\nissuers:\n  i: { issuer: i }\n",
    ]

    @Test("several errors in several files are all reported, in file then line order")
    func everyErrorAtOnce() throws {
        let fixture = try PolicyFixture(Self.everyErrorAtOnceFiles)
        #expect(fixture.errors() == [
            #"a.yaml:6:14: routes[0].limits[0]: unknown limit "y" (did you mean "x"?)"#,
            #"a.yaml:7:5: routes[0]: unknown key "extra""#,
            #"b.yaml:3:14: limits.x.rate: invalid rate "1/w": use N/s, N/m, N/h or N/d with N from 1 to 1000000000 (e.g. 10/s)"#,
            "c/d.yaml:3:6: issuers.i: needs exactly one of jwks_url, keys or secret_env; none is set",
        ])
    }

    static let reservedForwardHeadersFiles: [String: String] = ["a.yaml": """
        version: 1
        issuers:
          legacy: { issuer: legacy, secret_env: S }
        routes:
          - name: r
            match: { prefix: /a }
            auth: { issuers: [legacy] }
            forward: { claims: { sub: X-Forwarded-For, tier: x-tier, role: X-Tier } }
        """]

    @Test("forwarded claim headers may not be ones the sidecar manages")
    func reservedForwardHeaders() throws {
        let fixture = try PolicyFixture(Self.reservedForwardHeadersFiles)
        #expect(fixture.errors() == [
            #"a.yaml:8:31: routes[0].forward.claims.sub: header "x-forwarded-for" is managed by the sidecar and cannot carry a claim"#,
            #"a.yaml:8:68: routes[0].forward.claims.role: header "x-tier" already carries claim "tier""#,
        ])
    }
}
