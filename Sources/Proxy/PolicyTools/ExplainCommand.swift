import ArgumentParser
import CLI
import Core
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `tollgate-proxy explain`: why a request gets the answer it gets (spec/policy.md "Explain"). The
/// request runs through the sidecar's own phases (`OfflinePhaseChain`); the report reads what they
/// decided: every route tried and why it did not match, each gate's verdict, and the final answer.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain the decision the policy reaches for one request.",
        discussion: """
            A real token (--token) is verified for real: key files and secret_env secrets as the sidecar \
            reads them, jwks_url issuers fetched once. --as NAME --tests FILE uses a test token of a policy \
            test file instead (signed by the runner, on the runner's clock at time 0). \
            Exit status: 0 explained, 2 usage error or invalid policy set.
            """)

    @Option(help: "The policy directory.")
    var policies: String = "./policies"

    @Argument(help: "The request method, e.g. GET.")
    var method: String

    @Argument(help: "The URL (http://host/path?query) or path (/path?query).")
    var url: String

    @Option(name: [.customShort("H"), .customLong("header")], help: "A request header, 'Name: value' (repeatable).")
    var headers: [String] = []

    @Option(help: "A bearer token to send, verified for real.")
    var token: String?

    @Option(name: .customLong("as"), help: "The name of a test token in --tests.")
    var testToken: String?

    @Option(help: "The policy test file holding the --as token.")
    var tests: String?

    @Option(help: "PEM CA bundle trusted, besides the system's roots, when fetching https JWKS URLs (as run's).")
    var jwksCaFile: String?

    @Option(help: "The client address the limits and flags see.")
    var ip: String = "192.0.2.10"

    @Flag(help: "Print the explanation as JSON.")
    var json = false

    func validate() throws {
        if token != nil, testToken != nil { throw ValidationError("give --token or --as, not both") }
        if (testToken == nil) != (tests == nil) { throw ValidationError("--as and --tests go together") }
        guard HTTPToken.isValid(method) else { throw ValidationError("invalid method \"\(method)\"") }
        for header in headers where Self.header(header) == nil {
            throw ValidationError("invalid header \"\(header)\": write 'Name: value'")
        }
        guard Self.split(url) != nil else { throw ValidationError("invalid URL \"\(url)\": give http://host/path or /path") }
    }

    func run() throws {
        let snapshot = try TestCommand.loadPolicySet(policies)
        guard let (host, target) = Self.split(url) else { throw ExitCode(CommandLineMain.usageError) }
        var request = OfflinePhaseChain.Request(method: method, target: target, host: host ?? "localhost", clientIP: ip)
        request.headers = headers.compactMap(Self.header)

        let chain: OfflinePhaseChain
        var notes: [String] = []
        if let testToken, let tests {
            let file: PolicyTestFile
            switch PolicyTestFile.load(path: tests, snapshot: snapshot) {
            case let .success(loaded): file = loaded
            case let .failure(error):
                for diagnostic in error.diagnostics { CommandLineMain.printError(diagnostic.description) }
                throw ExitCode(CommandLineMain.usageError)
            }
            guard let named = file.tokens[testToken] else {
                throw ValidationError("\(tests) has no token \"\(testToken)\" (it has \(file.tokens.keys.sorted().joined(separator: ", ")))")
            }
            var mint = TestTokenMint()
            try mint.prepare(named.issuer)
            request.headers.append(("authorization", "Bearer " + (try mint.token(named))))
            chain = OfflinePhaseChain(policy: ActivePolicy(snapshot: snapshot, staticKeys: mint.keys))
            chain.reset(time: 0, flags: file.flags)
            notes.append("test token \(testToken) of \(tests), on the runner's clock at time 0")
        } else {
            var keys: [String: IssuerKeys] = [:]
            for issuer in snapshot.issuers.values.sorted(by: { $0.name < $1.name }) {
                do {
                    if let loaded = try IssuerKeys.load(issuer, environment: ProcessInfo.processInfo.environment) { keys[issuer.name] = loaded }
                } catch {
                    notes.append("\(error)")
                }
            }
            var fetched: [String: FetchedKeys] = [:]
            if let token {
                request.headers.append(("authorization", "Bearer " + token))
                fetched = Self.fetchKeys(for: token, snapshot: snapshot, caFile: jwksCaFile, notes: &notes)
            }
            chain = OfflinePhaseChain(policy: ActivePolicy(snapshot: snapshot, staticKeys: keys), fetchedKeys: fetched)
            chain.time = Date().timeIntervalSince1970
        }

        let outcome = chain.send(request)
        let explanation = Explanation(request: request, outcome: outcome, snapshot: snapshot, context: chain.context, notes: notes)
        print(json ? explanation.json() : explanation.text())
    }

    /// `http://host:port/path?q` → (`host:port`, `/path?q`); `/path?q` → (nil, `/path?q`).
    static func split(_ url: String) -> (host: String?, target: String)? {
        if url.hasPrefix("/") { return (nil, url) }
        for scheme in ["http://", "https://"] where url.lowercased().hasPrefix(scheme) {
            let rest = url.dropFirst(scheme.count)
            let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            let host = String(rest[..<slash])
            guard !host.isEmpty else { return nil }
            let target = String(rest[slash...])
            return (host, target.isEmpty ? "/" : target.hasPrefix("?") ? "/" + target : target)
        }
        return nil
    }

    static func header(_ text: String) -> (name: String, value: String)? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let name = String(text[..<colon]).trimmingCharacters(in: .whitespaces)
        let value = String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        return HTTPToken.isValid(name) ? (name.lowercased(), value) : nil
    }

    /// Fetches, once, the JWKS of each `jwks_url` issuer whose `iss` is the token's (read unverified,
    /// only to know which keys to fetch; the phases verify it).
    static func fetchKeys(for token: String, snapshot: PolicySnapshot, caFile: String?, notes: inout [String]) -> [String: FetchedKeys] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Base64URL.decode(parts[1]), let iss = (try? JSONValue.parse(payload))?["iss"]?.stringValue else {
            return [:]
        }
        let issuers = snapshot.issuers.values.filter { $0.issuer == iss }.sorted { $0.name < $1.name }
        var fetched: [String: FetchedKeys] = [:]
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        for issuer in issuers {
            guard case let .jwksURL(url) = issuer.keySource else { continue }
            do {
                let tls = try HTTPFetch.makeTLSContext(additionalCAFile: caFile)
                let response = try HTTPFetch.get(url, group: group, timeout: .seconds(5), tls: tls).wait()
                guard response.status == 200 else {
                    notes.append("issuer \(issuer.name): \(url) answered \(response.status)")
                    continue
                }
                let parsed = try JWKS.parse(response.body)
                fetched[issuer.name] = FetchedKeys(keys: IssuerKeys(keys: parsed.keys), fingerprint: Digest.sha256(response.body))
                notes.append("issuer \(issuer.name): fetched \(parsed.keys.count) key\(parsed.keys.count == 1 ? "" : "s") from \(url)")
            } catch {
                notes.append("issuer \(issuer.name): cannot fetch \(url): \(error)")
            }
        }
        return fetched
    }
}
