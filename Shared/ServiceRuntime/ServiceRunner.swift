import Hummingbird
import Logging
import ServiceLifecycle

/// Wraps an async closure as a lifecycle `Service`, for loops (consumers, the producer's
/// drain) that must start and stop with the process.
public struct ClosureService: Service {
    let name: String
    let body: @Sendable () async throws -> Void
    public init(name: String, _ body: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.body = body
    }
    public func run() async throws { try await body() }
}

/// The router every service serves: errors become problem+json, then the given routes. Route
/// tests build their application from it, so they see what clients see.
public func makeRouter(routes: (Router<EdgeRequestContext>) -> Void) -> Router<EdgeRequestContext> {
    let router = Router(context: EdgeRequestContext.self)
    // A span per request, continuing the caller's `traceparent` (no-op unless tracing is on).
    router.add(middleware: TracingMiddleware())
    router.add(middleware: RequestMetricsMiddleware())
    router.add(middleware: ProblemMiddleware())
    routes(router)
    return router
}

/// Builds the HTTP server every service exposes (observability routes plus the service's own).
public func makeHTTPServer(
    config: ServiceConfig,
    logger: Logger,
    routes: (Router<EdgeRequestContext>) -> Void = { _ in }
) -> some Service {
    Application(
        router: makeRouter(routes: routes),
        configuration: .init(address: .hostname(config.httpHost, port: config.httpPort), serverName: "switchboard-\(config.serviceName)"),
        logger: logger
    )
}

/// Runs a service's parts under one ServiceGroup with graceful shutdown on SIGTERM/SIGINT.
/// Parts shut down in reverse order: list the producer first, then consumers, then HTTP, so
/// HTTP stops accepting first, consumers finish their in-flight event, and the producer flushes last.
public func runServiceGroup(_ services: [any Service], logger: Logger) async throws {
    let group = ServiceGroup(configuration: .init(
        services: services.map { .init(service: $0) },
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger
    ))
    try await group.run()
}
