import Foundation

/// Loads a policy directory into a `PolicySnapshot`, or reports every problem in it at once.
///
/// Files: every `*.yaml` / `*.yml` below the directory, recursively, sorted by path. Names starting
/// with `.` are skipped at every level: that leaves out `.git`, editor swap files, and the `..data`
/// and timestamped folders Kubernetes uses inside ConfigMap volumes (whose visible files are symlinks
/// into them), so a mounted ConfigMap loads each file once. Symlinks are followed.
public enum PolicyLoader {
    /// Largest policy file read (a policy is configuration, not data).
    public static let maximumFileSize = 1 << 20
    /// How deep the directory walk goes; also what stops symlink loops.
    static let maximumDepth = 16

    public static func load(directory: String, now: Date = Date()) throws(PolicyValidationError) -> PolicySnapshot {
        let display = displayPrefix(for: directory)
        let files: [String]
        do {
            files = try policyFiles(in: directory)
        } catch {
            throw PolicyValidationError([PolicyDiagnostic(.unreadable, file: directory, "cannot read the policy directory: \(error.reason)")])
        }
        guard !files.isEmpty else {
            throw PolicyValidationError([PolicyDiagnostic(.unreadable, file: directory, "no policy files (*.yaml, *.yml) in this directory")])
        }

        let keyFiles = KeyFileReader(directory: directory)
        let decoder = PolicyFileDecoder(keyFiles: keyFiles)
        var drafts: [PolicyFileDraft] = []
        var contents: [(path: String, bytes: [UInt8])] = []
        for path in files {
            let displayPath = display + path
            guard let data = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(path)) else {
                decoder.log.append(PolicyDiagnostic(.unreadable, file: displayPath, "cannot read this file (permissions?)"))
                continue
            }
            guard data.count <= maximumFileSize else {
                decoder.log.append(PolicyDiagnostic(.unreadable, file: displayPath, "file is larger than 1 MiB"))
                continue
            }
            let bytes = [UInt8](data)
            guard let text = String(validating: bytes, as: UTF8.self) else {
                decoder.log.append(PolicyDiagnostic(.unreadable, file: displayPath, "file is not valid UTF-8"))
                continue
            }
            contents.append((path, bytes))
            drafts.append(decoder.decode(yaml: text, path: path, displayPath: displayPath))
        }

        let everyFileParsed = drafts.count == files.count && drafts.allSatisfy(\.parsed)
        var builder = PolicySetBuilder(directory: directory, everyFileParsed: everyFileParsed, log: decoder.log)
        let built = builder.build(drafts)
        let diagnostics = builder.log.items.sorted(by: Self.reportOrder(files: files.map { display + $0 }))
        guard diagnostics.isEmpty, let built else { throw PolicyValidationError(diagnostics) }

        let keyContents = keyFiles.read.sorted { $0.key < $1.key }.map { (path: $0.key, bytes: $0.value) }
        return PolicySnapshot(
            service: built.service, issuers: built.issuers, limits: built.limits, flags: built.flags,
            routes: built.routes,
            files: contents.map { .init(path: $0.path, sha256: Hex.encode(Digest.sha256($0.bytes))) },
            keyFiles: keyContents.map { .init(path: $0.path, sha256: Hex.encode(Digest.sha256($0.bytes))) },
            hash: setHash(policyFiles: contents, keyFiles: keyContents), loadedAt: now)
    }

    /// SHA-256 over each file's kind, relative path, length and bytes, in a fixed order: the same
    /// set gives the same hash wherever it is checked out.
    static func setHash(policyFiles: [(path: String, bytes: [UInt8])], keyFiles: [(path: String, bytes: [UInt8])]) -> String {
        var hasher = SHA256Hasher()
        hasher.update("tollgate-policy-set-v1\n")
        for (kind, files) in [("policy", policyFiles), ("key", keyFiles)] {
            for file in files {
                hasher.update("\(kind)\u{0}\(file.path)\u{0}\(file.bytes.count)\u{0}")
                hasher.update(file.bytes)
            }
        }
        return Hex.encode(hasher.finalize())
    }

    /// Relative paths (`/`-separated) of the policy files below `directory`, sorted.
    public static func policyFiles(in directory: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw LoadFailure("no such directory")
        }
        guard isDirectory.boolValue else { throw LoadFailure("not a directory") }
        var found: [String] = []
        try walk(directory, relative: "", depth: 0, into: &found)
        // Byte order of the UTF-8 paths: stable across locales and platforms.
        return found.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    private static func walk(_ directory: String, relative: String, depth: Int, into found: inout [String]) throws {
        guard depth < maximumDepth else { return }
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw LoadFailure("cannot list \(directory)")
        }
        for entry in entries where !entry.hasPrefix(".") {
            let full = (directory as NSString).appendingPathComponent(entry)
            let path = relative.isEmpty ? entry : relative + "/" + entry
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                try walk(full, relative: path, depth: depth + 1, into: &found)
            } else if entry.hasSuffix(".yaml") || entry.hasSuffix(".yml") {
                found.append(path)
            }
        }
    }

    /// `policies/` for `policies`, `policies/`, or `./policies/` as typed; nothing for `.`.
    static func displayPrefix(for directory: String) -> String {
        var trimmed = directory
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        if trimmed == "." { return "" }
        return trimmed == "/" ? "/" : trimmed + "/"
    }

    /// Files in load order, then line and column; whole-file problems first within their file.
    static func reportOrder(files: [String]) -> (PolicyDiagnostic, PolicyDiagnostic) -> Bool {
        let rank = Dictionary(files.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
        return { a, b in
            let fileA = rank[a.file] ?? -1, fileB = rank[b.file] ?? -1
            if fileA != fileB { return fileA < fileB }
            switch (a.location, b.location) {
            case (nil, .some): return true
            case let (.some(la), .some(lb)): return la < lb
            default: return false
            }
        }
    }
}

struct LoadFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

extension Error {
    fileprivate var reason: String { (self as? LoadFailure)?.reason ?? "\(self)" }
}

/// The whole-set checks: names unique across files, references resolved (with did-you-mean),
/// `service` agreeing, limits that could never apply, and at least one route.
struct PolicySetBuilder {
    struct Built {
        let service: String?
        let issuers: [String: IssuerPolicy]
        let limits: [String: RateLimitPolicy]
        let flags: [String: FlagDefault]
        let routes: [Route]
    }

    let directory: String
    /// When a file is unreadable or not YAML, "no routes" would only be a consequence of that.
    let everyFileParsed: Bool
    var log: DiagnosticLog

    mutating func build(_ drafts: [PolicyFileDraft]) -> Built? {
        let service = agreedService(drafts)
        // Defined names, first definition wins; a later one is reported where it stands.
        var issuerNodes: [String: YAMLNode] = [:], limitNodes: [String: YAMLNode] = [:]
        var flagNodes: [String: YAMLNode] = [:], routeNodes: [String: YAMLNode] = [:]
        var issuers: [String: IssuerPolicy] = [:], limits: [String: RateLimitPolicy] = [:]
        var flags: [String: FlagDefault] = [:]
        for draft in drafts {
            for entry in draft.issuers where define(entry.name, at: entry.key, kind: "issuer", in: &issuerNodes) {
                issuers[entry.name] = entry.policy
            }
            for entry in draft.limits where define(entry.name, at: entry.key, kind: "limit", in: &limitNodes) {
                limits[entry.name] = entry.policy
            }
            for entry in draft.flags where define(entry.name, at: entry.key, kind: "flag", in: &flagNodes) {
                flags[entry.name] = entry.policy
            }
            for route in draft.routes {
                if let name = route.name, let node = route.nameNode {
                    _ = define(name, at: node, kind: "route", in: &routeNodes)
                }
            }
        }

        var routes: [Route] = []
        var routeCount = 0
        for draft in drafts {
            for route in draft.routes {
                routeCount += 1
                if let built = resolve(route, issuers: issuers, issuerNames: issuerNodes, limits: limits,
                                       limitNames: limitNodes, flags: flags, flagNames: flagNodes) {
                    routes.append(built)
                }
            }
        }
        if routeCount == 0, everyFileParsed {
            log.append(PolicyDiagnostic(.noRoutes, file: directory, path: "routes",
                                        "no file defines a route: every request would be refused with 404"))
        }
        guard log.isEmpty else { return nil }
        return Built(service: service, issuers: issuers, limits: limits, flags: flags, routes: routes)
    }

    private mutating func agreedService(_ drafts: [PolicyFileDraft]) -> String? {
        var first: (value: String, node: YAMLNode)?
        for draft in drafts {
            guard let service = draft.service else { continue }
            guard let established = first else {
                first = service
                continue
            }
            if service.value != established.value {
                log.error(.serviceMismatch, at: service.node,
                          "service \"\(service.value)\" disagrees with \"\(established.value)\" set at \(established.node.location)")
            }
        }
        return first?.value
    }

    private mutating func define(_ name: String, at node: YAMLNode, kind: String, in defined: inout [String: YAMLNode]) -> Bool {
        if let previous = defined[name] {
            log.error(.duplicateName, at: node, "\(kind) \"\(name)\" is already defined at \(previous.location)")
            return false
        }
        defined[name] = node
        return true
    }

    private mutating func resolve(
        _ route: RouteDraft,
        issuers: [String: IssuerPolicy], issuerNames: [String: YAMLNode],
        limits: [String: RateLimitPolicy], limitNames: [String: YAMLNode],
        flags: [String: FlagDefault], flagNames: [String: YAMLNode]
    ) -> Route? {
        // Every reference is checked, even when another part of the route is already wrong.
        var resolvedAuth: RouteAuth?
        switch route.auth {
        case .none?:
            resolvedAuth = RouteAuth.none
        case let .required(references, scopes, claims, optional)?:
            let resolved = references.compactMap { lookup($0, kind: "issuer", names: issuerNames, values: issuers) }
            if resolved.count == references.count {
                resolvedAuth = .required(TokenRequirement(issuers: resolved, scopes: scopes, claims: claims, optional: optional))
            }
        case nil:
            break
        }
        var resolvedLimits: [RateLimitPolicy] = []
        for reference in route.limits {
            guard let limit = lookup(reference, kind: "limit", names: limitNames, values: limits) else { continue }
            if case .some(.none) = route.auth, limit.needsToken {
                let parts = limit.key.filter(\.needsToken).map(\.description).joined(separator: ", ")
                log.error(.invalidValue, at: reference.node,
                          "limit \"\(limit.name)\" is keyed on \(parts), which a request without a token never has; with auth: none it would never apply")
                continue
            }
            resolvedLimits.append(limit)
        }
        var gate: FlagGate?
        if let flag = route.flag, let definition = lookup(flag.reference, kind: "flag", names: flagNames, values: flags) {
            gate = FlagGate(flag: definition, denyStatus: flag.denyStatus)
        }
        guard let name = route.name, let match = route.match, let auth = resolvedAuth, let forward = route.forward,
              let mode = route.mode, resolvedLimits.count == route.limits.count, (route.flag == nil) == (gate == nil)
        else { return nil }
        return Route(name: name, match: match, auth: auth, flag: gate, limits: resolvedLimits, forward: forward,
                     mode: mode, location: route.node.location)
    }

    /// The definition a reference names. A name that is defined but invalid yields nil without a
    /// second report: its own error already stands.
    private mutating func lookup<Value>(
        _ reference: NameReference, kind: String, names: [String: YAMLNode], values: [String: Value]
    ) -> Value? {
        guard names[reference.name] != nil else {
            let hint = DidYouMean.hint(for: reference.name, among: names.keys.sorted())
            log.error(.unknownReference, at: reference.node, "unknown \(kind) \"\(reference.name)\"\(hint)")
            return nil
        }
        return values[reference.name]
    }
}
