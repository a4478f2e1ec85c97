import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A one-shot HTTP/1.1 GET on SwiftNIO (never blocking an event loop): what the JWKS refresher uses.
/// http and https (the given client context: system trust roots plus `--jwks-ca-file`; the
/// certificate must name the host — a DNS name through SNI, an IP literal by its IP SAN); the body
/// is capped; the whole exchange has one deadline.
enum HTTPFetch {
    struct Response: Sendable {
        let status: Int
        let body: [UInt8]
    }

    enum Failure: Error, CustomStringConvertible {
        case badURL(String)
        case tooLarge(Int)
        case closedEarly
        case timedOut

        var description: String {
            switch self {
            case let .badURL(url): "not an http(s) URL: \(url)"
            case let .tooLarge(limit): "response body larger than \(limit) bytes"
            case .closedEarly: "connection closed before the response ended"
            case .timedOut: "no complete response in time"
            }
        }
    }

    static let maximumBodyBytes = 1 << 20

    /// The client context https fetches use: the system's roots and, when given, a CA bundle of
    /// the operator's (an identity provider behind a private CA).
    static func makeTLSContext(additionalCAFile: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let additionalCAFile {
            configuration.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(additionalCAFile))]
        }
        return try NIOSSLContext(configuration: configuration)
    }

    static func get(_ urlString: String, group: any EventLoopGroup, timeout: TimeAmount, tls: NIOSSLContext) -> EventLoopFuture<Response> {
        let loop = group.next()
        guard let url = URL(string: urlString), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty
        else { return loop.makeFailedFuture(Failure.badURL(urlString)) }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        let path = url.path.isEmpty ? "/" : url.path
        let target = url.query.map { path + "?" + $0 } ?? path
        let hostHeader = url.port.map { "\(host):\($0)" } ?? host
        let promise = loop.makePromise(of: Response.self)
        let tls = scheme == "https" ? tls : nil
        // SNI carries DNS names only; for an IP literal NIOSSL checks the certificate against the
        // address it connected to.
        let sniHost = host.first == "[" || IPAddressBytes.parse(host) != nil ? nil : host
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: tls, serverHostname: sniHost))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(FetchHandler(promise: promise))
                }
            }
        let deadline = loop.scheduleTask(in: timeout) { promise.fail(Failure.timedOut) }
        bootstrap.connect(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port).whenComplete { result in
            switch result {
            case let .failure(error):
                promise.fail(error)
            case let .success(channel):
                var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target)
                head.headers.add(name: "host", value: hostHeader)
                head.headers.add(name: "accept", value: "application/jwk-set+json, application/json")
                head.headers.add(name: "user-agent", value: "tollgate-proxy")
                head.headers.add(name: "connection", value: "close")
                channel.write(HTTPClientRequestPart.head(head), promise: nil)
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
            }
        }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        return promise.futureResult
    }

    private final class FetchHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart

        private let promise: EventLoopPromise<Response>
        private var status = 0
        private var body: [UInt8] = []

        init(promise: EventLoopPromise<Response>) {
            self.promise = promise
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case let .head(head):
                status = Int(head.status.code)
            case let .body(buffer):
                guard body.count + buffer.readableBytes <= HTTPFetch.maximumBodyBytes else {
                    promise.fail(Failure.tooLarge(HTTPFetch.maximumBodyBytes))
                    context.close(promise: nil)
                    return
                }
                body.append(contentsOf: buffer.readableBytesView)
            case .end:
                promise.succeed(Response(status: status, body: body))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(Failure.closedEarly)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}
