import CLI
import Core
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import UnixSignals

/// Start-up and the life of the process: load and validate the policy, build TLS, bind both ports
/// (any failure is one clear line and a non-zero exit: the process never runs half-configured),
/// then run the listener, admin port, policy watcher and SIGHUP handler as one service group that
/// SIGTERM shuts down gracefully.
struct ProxyProcess {
    let configuration: ProxyConfiguration

    func run() async -> Int32 {
        let json = configuration.logFormat == .json
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in OperationalLogHandler(label: label, json: json, logLevel: level) }
        let logger = Logger(label: "tollgate-proxy")
        // Before anything can answer: a SIGHUP from then on reloads instead of ending the process.
        let hangups = await ReloadSignalListener.trapHangups()

        let snapshot: PolicySnapshot
        do {
            snapshot = try PolicyLoader.load(directory: configuration.policyDirectory)
        } catch {
            for diagnostic in error.diagnostics { CommandLineMain.printError(diagnostic.description) }
            return fail("the policy set in \(configuration.policyDirectory) is invalid (\(error.diagnostics.count) errors); not starting")
        }
        if let service = configuration.service, let policyService = snapshot.service, service != policyService {
            return fail("--service \(service) disagrees with the policies' service \(policyService)")
        }

        let tls: NIOSSLContext?
        do {
            tls = try configuration.tls.map(Self.makeTLSContext)
        } catch {
            return fail("cannot set up TLS: \(error)")
        }
        let jwksTLS: NIOSSLContext
        do {
            jwksTLS = try HTTPFetch.makeTLSContext(additionalCAFile: configuration.jwksCAFile)
        } catch {
            return fail("--jwks-ca-file \(configuration.jwksCAFile ?? ""): not a readable PEM CA bundle (\(error))")
        }
        let environment = ProcessInfo.processInfo.environment
        let policy: ActivePolicy
        do {
            policy = try ActivePolicy.make(snapshot, environment: environment)
        } catch {
            return fail("\(error); not starting")
        }

        // On the loop data path SwiftNIO only carries the admin port, JWKS fetches and reloads.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: usesLoop(tls: tls) ? 1 : configuration.threads)
        let threadPool = NIOThreadPool(numberOfThreads: 1)
        threadPool.start()
        let status = await serve(snapshot: snapshot, policy: policy, tls: tls, jwksTLS: jwksTLS, environment: environment,
                                 hangups: hangups, group: group, threadPool: threadPool, logger: logger)
        // Every path out of `serve` comes here: the threads always stop.
        try? await threadPool.shutdownGracefully()
        try? await group.shutdownGracefully()
        return status
    }

    /// Everything that runs on the event loops, from their contexts to the end of the service group.
    private func serve(
        snapshot: PolicySnapshot, policy: ActivePolicy, tls: NIOSSLContext?, jwksTLS: NIOSSLContext, environment: [String: String],
        hangups: UnixSignalsSequence, group: MultiThreadedEventLoopGroup, threadPool: NIOThreadPool, logger: Logger
    ) async -> Int32 {
        let buckets = InProcessBuckets()
        let contexts: LoopContexts
        var loopServer: LoopDataPathServer?
        if usesLoop(tls: tls) {
            do {
                let server = try await LoopDataPathServer.start(configuration: configuration, policy: policy, buckets: buckets, logger: logger)
                loopServer = server
                contexts = server.contexts
            } catch {
                return fail("\(error)")
            }
        } else {
            do {
                contexts = try await LoopContexts(group: group, configuration: configuration, policy: policy, buckets: buckets, logger: logger)
            } catch {
                return fail("cannot start event loops: \(error)")
            }
        }
        let processMetrics = ProcessMetrics()
        let jwks = JWKSRefresher(group: group, contexts: contexts, metrics: processMetrics, tls: jwksTLS, logger: logger)
        contexts.setRefresher(jwks)
        jwks.reconcile(with: snapshot)
        let reloader = PolicyReloader(
            directory: configuration.policyDirectory, initial: snapshot, contexts: contexts, jwks: jwks, environment: environment,
            metrics: processMetrics, logger: logger)

        let listener: any Service
        let admin: AdminServer
        if let loopServer {
            listener = loopServer
        } else {
            do {
                listener = try await ProxyListener.bind(group: group, configuration: configuration, contexts: contexts, tls: tls, logger: logger)
            } catch {
                return fail("cannot listen on \(configuration.listen): \(Self.describe(error))")
            }
        }
        do {
            admin = try await AdminServer.bind(
                group: group, endpoint: configuration.admin,
                state: AdminState(reloader: reloader, contexts: contexts, processMetrics: processMetrics, threadPool: threadPool, jwks: jwks,
                                  store: configuration.store))
        } catch {
            if let listener = listener as? ProxyListener { try? await listener.channel.close().get() }
            if let loopServer {
                try? await loopServer.closeEverything()
                await loopServer.stopThreads()
            }
            return fail("cannot listen on admin \(configuration.admin): \(Self.describe(error))")
        }

        logger.info("tollgate-proxy started", metadata: [
            "listen": "\(configuration.listen)", "admin": "\(configuration.admin)",
            "upstream": "\(configuration.upstream)", "policy_hash": "\(snapshot.shortHash)",
            "routes": "\(snapshot.routes.count)", "tls": "\(tls != nil)", "threads": "\(configuration.threads)", "data_path": "\(usesLoop(tls: tls) ? "loop" : "nio")",
            "store": "\(configuration.store)", "redis": "\(configuration.redis?.description ?? "none")",
        ])

        let serviceGroup = ServiceGroup(
            configuration: .init(
                // Shut down in reverse order: the listener first (stop accepting, drain), the admin
                // port last but one, so health checks answer while requests drain.
                services: [
                    .init(service: PolicyWatcher(reloader: reloader, interval: .nanoseconds(configuration.policyPollInterval.nanoseconds))),
                    .init(service: ReloadSignalListener(reloader: reloader, signals: hangups)),
                    .init(service: jwks),
                    .init(service: admin),
                    .init(service: listener),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        var status: Int32 = 0
        do {
            try await serviceGroup.run()
        } catch {
            logger.error("stopped with an error: \(error)")
            status = 1
        }
        for bound in contexts.all {
            try? await bound.eventLoop.submit {
                bound.value.upstream.closeAll()
                bound.value.stopTimers()
                bound.value.accessLog.flush()
            }.get()
        }
        await loopServer?.stopThreads()
        logger.info("stopped")
        return status
    }

    /// The loop carries plain-text listeners; TLS stays on SwiftNIO (docs/architecture.md).
    private func usesLoop(tls: NIOSSLContext?) -> Bool {
        configuration.dataPath == .loop && tls == nil
    }

    private func fail(_ message: String) -> Int32 {
        CommandLineMain.printError("tollgate-proxy: \(message)")
        return 1
    }

    static func makeTLSContext(_ tls: ProxyConfiguration.TLS) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certificatePath).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.keyPath, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let ca = tls.clientCAPath {
            configuration.trustRoots = .file(ca)
            configuration.certificateVerification = .noHostnameVerification
        }
        return try NIOSSLContext(configuration: configuration)
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? IOError, error.errnoCode == EADDRINUSE { return "address already in use" }
        if let error = error as? IOError, error.errnoCode == EACCES { return "permission denied" }
        return "\(error)"
    }
}
