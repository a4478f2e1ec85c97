import Core
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The admin port (loopback by default): health, readiness, metrics, the active policy, reload.
/// Nothing here is on the request path, so it may use Foundation and hop to a thread pool.
final class AdminServer: Service {
    let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func bind(
        group: any EventLoopGroup, endpoint: ProxyConfiguration.Endpoint, state: AdminState
    ) async throws -> AdminServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(state: state))
                }
            }
            .bind(host: endpoint.host, port: endpoint.port)
            .get()
        return AdminServer(channel: channel)
    }

    func run() async throws {
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// What the admin port reports on.
struct AdminState: Sendable {
    let reloader: PolicyReloader
    let contexts: LoopContexts
    let processMetrics: ProcessMetrics
    let threadPool: NIOThreadPool
    let jwks: JWKSRefresher
    let store: String
}

final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: AdminState
    private var request: HTTPRequestHead?

    init(state: AdminState) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        switch (head.method, path) {
        case (.GET, "/healthz"), (.HEAD, "/healthz"):
            send(.ok, "text/plain", "ok\n", head: head, context: context)
        case (.GET, "/readyz"), (.HEAD, "/readyz"):
            let missing = state.jwks.missing()
            if missing.isEmpty {
                send(.ok, "text/plain", "ready\n", head: head, context: context)
            } else {
                send(.serviceUnavailable, "text/plain", "not ready: waiting for the JWKS of \(missing.joined(separator: ", "))\n",
                     head: head, context: context)
            }
        case (.GET, "/metrics"):
            state.contexts.metrics().hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] result in
                switch result {
                case let .success(metrics):
                    send(.ok, "text/plain; version=0.0.4", PrometheusText.render(
                        metrics, process: state.processMetrics, notReadyIssuers: state.jwks.missing()), head: head, context: context)
                case let .failure(error):
                    send(.internalServerError, "text/plain", "\(error)\n", head: head, context: context)
                }
            }
        case (.GET, "/policies"):
            send(.ok, "application/json", policiesJSON(), head: head, context: context)
        case (.POST, "/reload"):
            let reloader = state.reloader
            state.threadPool.runIfActive(eventLoop: context.eventLoop) {
                reloader.reload(reason: "admin")
            }.assumeIsolated().whenComplete { [self] result in
                switch result {
                case let .success(.changed(snapshot)), let .success(.unchanged(snapshot)):
                    let changed: Bool = if case .success(.changed) = result { true } else { false }
                    send(.ok, "application/json", Self.json(["hash": snapshot.hash, "changed": changed]), head: head, context: context)
                case let .success(.invalid(errors)):
                    send(.unprocessableEntity, "application/json", Self.json(["errors": errors]), head: head, context: context)
                case let .failure(error):
                    send(.internalServerError, "text/plain", "\(error)\n", head: head, context: context)
                }
            }
        default:
            send(.notFound, "text/plain", "not found\n", head: head, context: context)
        }
    }

    private func policiesJSON() -> String {
        let current = state.reloader.current
        let snapshot = current.current
        var object: [String: Any] = [
            "hash": snapshot.hash,
            "directory": state.reloader.directory,
            "files": snapshot.files.map { ["path": $0.path, "sha256": $0.sha256] },
            "key_files": snapshot.keyFiles.map { ["path": $0.path, "sha256": $0.sha256] },
            "loaded_at": ISO8601DateFormatter().string(from: snapshot.loadedAt),
            "routes": snapshot.routes.map(\.name),
            // What decides and counts but never refuses (spec/policy.md "Shadow mode").
            "shadow": [
                "routes": snapshot.routes.filter { $0.mode == .shadow }.map(\.name),
                "limits": snapshot.limits.values.filter { $0.mode == .shadow }.map(\.name).sorted(),
            ],
            "store": state.store,
            "last_reload_error": NSNull(),
        ]
        if let service = snapshot.service { object["service"] = service }
        if let errors = current.lastError {
            object["last_reload_error"] = [
                "errors": errors,
                "at": current.lastErrorAt.map { ISO8601DateFormatter().string(from: $0) } ?? "",
            ] as [String: Any]
        }
        return Self.json(object)
    }

    static func json(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private func send(_ status: HTTPResponseStatus, _ contentType: String, _ body: String, head request: HTTPRequestHead, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        var head = HTTPResponseHead(version: request.version, status: status)
        head.headers.add(name: "content-type", value: contentType)
        head.headers.add(name: "content-length", value: String(buffer.readableBytes))
        head.headers.add(name: "cache-control", value: "no-store")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if !request.isKeepAlive { context.close(promise: nil) }
    }
}

@available(*, unavailable)
extension AdminHandler: Sendable {}
