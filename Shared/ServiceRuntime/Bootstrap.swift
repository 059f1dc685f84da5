import Logging
import Metrics
import Prometheus

/// Process-wide logging and metrics set-up. Only executables call this (libraries take a Logger).
public enum ProcessBootstrap {
    /// Prometheus registry that `/metrics` renders; bootstrapped once per process.
    public static let metricsRegistry = PrometheusCollectorRegistry()

    public static func bootstrap(logLevel: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metricsRegistry))
        ParentWatch.startIfRequested()
    }
}
