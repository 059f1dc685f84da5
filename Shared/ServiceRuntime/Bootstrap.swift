import Logging
import Metrics
import Prometheus

/// Process-wide logging and metrics set-up. Only executables call this (libraries take a Logger).
public enum ProcessBootstrap {
    /// Prometheus registry that `/metrics` renders; bootstrapped once per process.
    public static let metricsRegistry = PrometheusCollectorRegistry()

    /// `exitOnStdinEOF`: see `ParentWatch`.
    public static func bootstrap(logLevel: Logger.Level, exitOnStdinEOF: Bool) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metricsRegistry))
        if exitOnStdinEOF { ParentWatch.start() }
    }
}

extension CommonOptions {
    /// What every service's `@main` does: resolve configuration, bootstrap logging and metrics
    /// (executables only), then run the service with a logger labelled `switchboard.<service>`.
    public func runService(
        _ service: String, defaultPort: Int,
        _ body: (ServiceConfig, Logger) async throws -> Void
    ) async throws {
        let config = try resolve(service: service, defaultPort: defaultPort)
        ProcessBootstrap.bootstrap(logLevel: config.logLevel, exitOnStdinEOF: config.exitOnStdinEOF)
        try await body(config, Logger(label: "switchboard.\(service)"))
    }
}
