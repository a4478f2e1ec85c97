import Core
import Foundation
import TestSupport
import Testing

/// The verifier alone against the independently generated cases: a case the sidecar answers 200
/// or 403 has a token that verifies; a 401 case has one that does not (or no bearer token at all).
@Suite("JWT verifier conformance")
struct JWTVerifierConformanceTests {
    static let snapshot = try! PolicyLoader.load(directory: JWTConformance.policyDirectory.path)
    static let keys: [String: IssuerKeys] = {
        var keys: [String: IssuerKeys] = [:]
        for issuer in snapshot.issuers.values {
            keys[issuer.name] = try! IssuerKeys.load(issuer, environment: JWTConformance.environment)
        }
        return keys
    }()

    @Test("the fixture set is there", .tags(.conformance))
    func casesExist() {
        #expect(JWTConformance.cases.count >= 60)
    }

    @Test("each case verifies exactly when the sidecar should let it through", .tags(.conformance), arguments: JWTConformance.cases)
    func verify(_ testCase: JWTConformance.Case) throws {
        let routeName = String(testCase.path.split(separator: "/").first ?? "")
        let route = try #require(Self.snapshot.routes.first { $0.name == routeName }, "route \(routeName)")
        guard case let .required(requirement) = route.auth else { return }
        guard let token = testCase.bearerToken else {
            #expect(testCase.status == 401 || requirement.optional)
            return
        }
        let verifier = SignatureVerifier()
        let result = JWTVerifier.verify(token, issuers: requirement.issuers, now: Date().timeIntervalSince1970, signatures: verifier) {
            Self.keys[$0.name]
        }
        switch result {
        case .success:
            #expect(testCase.status != 401, "verified, but the fixture expects 401")
        case let .failure(failure):
            #expect(testCase.status == 401, "refused (\(failure)), but the fixture expects \(testCase.status)")
        }
    }
}

extension Tag {
    @Tag static var conformance: Self
}
