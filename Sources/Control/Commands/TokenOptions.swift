import ArgumentParser
import Core
import Foundation

/// How tokens are issued and passwords checked: `serve`, `bootstrap` and `keys rotate` share them.
struct TokenOptions: ParsableArguments {
    @Option(help: "The iss of issued tokens and the base of the discovery URLs.") var issuer = "http://127.0.0.1:7000"
    @Option(help: "Access token lifetime (e.g. 15m, 1h).") var tokenTtl = "15m"
    @Option(help: "Refresh token lifetime (e.g. 30d).") var refreshTtl = "30d"
    @Option(help: "Algorithm of new signing keys: ES256 or RS256.") var signingAlg = "ES256"
    @Option(help: "scrypt cost for user passwords: N = 2^this (OWASP: 17).") var scryptLogN = 17
    @Option(help: "Failed password logins in a row before a username is locked (0: never).") var maxLoginFailures = 5
    @Option(help: "First lock after too many failed logins; doubles per further failure, up to 15m.") var loginLockout = "1m"

    func configuration() throws -> ControlConfiguration {
        guard let token = ControlDuration.milliseconds(tokenTtl), token >= 1000 else {
            throw ValidationError("--token-ttl must be a duration like 15m or 1h, got \"\(tokenTtl)\"")
        }
        guard let refresh = ControlDuration.milliseconds(refreshTtl), refresh >= 1000 else {
            throw ValidationError("--refresh-ttl must be a duration like 30d or 12h, got \"\(refreshTtl)\"")
        }
        guard let algorithm = JWTAlgorithm(rawValue: signingAlg), SigningKey.supported.contains(algorithm) else {
            throw ValidationError("--signing-alg must be ES256 or RS256, got \"\(signingAlg)\"")
        }
        guard (10...22).contains(scryptLogN) else { throw ValidationError("--scrypt-log-n must be 10...22") }
        guard let url = URL(string: issuer), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, !issuer.hasSuffix("/") else {
            throw ValidationError("--issuer must be an http(s) URL without a trailing slash, got \"\(issuer)\"")
        }
        guard (0...1000).contains(maxLoginFailures) else { throw ValidationError("--max-login-failures must be 0...1000") }
        guard let lockout = ControlDuration.milliseconds(loginLockout), lockout >= 1000 else {
            throw ValidationError("--login-lockout must be a duration of at least 1s, like 1m, got \"\(loginLockout)\"")
        }
        return ControlConfiguration(
            issuer: issuer, tokenLifetime: token, refreshLifetime: refresh, signingAlgorithm: algorithm, scryptLogN: scryptLogN,
            loginThrottle: LoginThrottle.Policy(maxFailures: maxLoginFailures, lockout: lockout))
    }
}
