import NIOCore
import NIOHTTP1

/// Answers requests NIO's parser rejects, then lets the decoder close the connection: a header block
/// over `--max-header-bytes` gets 431, anything else malformed (bad chunk sizes, obsolete line
/// folding, control bytes, smuggling shapes llhttp refuses) gets 400. Never a second response, and
/// never after a response has started.
final class ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responseInProgress = false
    private let requestIDs: () -> String

    init(requestIDs: @escaping () -> String) {
        self.requestIDs = requestIDs
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if !responseInProgress {
            let problem: ProblemResponse = parserError == .headerOverflow
                ? .headersTooLarge()
                : .badRequest("the request is not valid HTTP/1.1 (\(parserError))")
            let (head, body) = problem.encoded(requestID: requestIDs(), version: .http1_1, allocator: context.channel.allocator)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            responseInProgress = true
        }
        context.close(promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case let .head(head) where head.status.code >= 200:
            responseInProgress = true
        case .end:
            responseInProgress = false
        default:
            break
        }
        context.write(data, promise: promise)
    }
}

@available(*, unavailable)
extension ProtocolErrorHandler: Sendable {}
