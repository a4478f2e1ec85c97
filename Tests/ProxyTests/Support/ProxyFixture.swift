import Foundation
import TestSupport

/// A test upstream and a tollgate-proxy in front of it, torn down together.
final class ProxyFixture {
    static let policy = """
        version: 1
        routes:
          - name: health
            match: { path: /healthz }
            auth: none
          - name: api
            match: { regex: '^/(echo|download|slow|reset|status|upload)(/.*)?$' }
            auth: none
        """

    let upstream: TestUpstream
    let proxy: ProxyHarness

    init(policy: String = ProxyFixture.policy, arguments: [String] = [], environment: [String: String] = [:]) throws {
        upstream = try TestUpstream()
        do {
            proxy = try ProxyHarness(policies: ["routes.yaml": policy], upstreamPort: upstream.port, arguments: arguments, environment: environment)
        } catch {
            upstream.shutdown()
            throw error
        }
    }

    deinit {
        _ = proxy.stop()
        upstream.shutdown()
    }
}
