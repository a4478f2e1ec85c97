import Core
import Hummingbird
import Logging
import NIOCore

/// The control plane's HTTP application: the generated `/v1` operations (`ControlAPI`) and the
/// hand-routed OAuth and service endpoints, on one router.
enum ControlApp {
    static func routes(_ services: ControlServices) -> APIRouter {
        let api = APIRouter(services: services)
        OAuthRoutes.register(api)
        OperationsRoutes.register(api)
        do {
            try ControlAPI.register(on: api.router, services: services)
        } catch {
            // Only an unusable server URL throws, and ours is the default "/".
            preconditionFailure("the generated routes do not register: \(error)")
        }
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
