import Core
import Hummingbird
import Logging
import NIOCore

/// The control plane's HTTP application: every route file registers into one `APIRouter`.
enum ControlApp {
    static func routes(_ services: ControlServices) -> APIRouter {
        let api = APIRouter(services: services)
        OAuthRoutes.register(api)
        ClientRoutes.register(api)
        UserRoutes.register(api)
        OperationsRoutes.register(api)
        return api
    }

    static func application(
        _ services: ControlServices, host: String, port: Int,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: routes(services).router,
            configuration: .init(address: .hostname(host, port: port), serverName: "tollgate-control"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: services.logger)
    }
}
