import Logging
import OTel
public import ServiceLifecycle

/// Span export over OTLP (swift-otel), on when an OTLP endpoint is configured with the standard
/// variables: `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, with
/// `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the default, or `http/json`),
/// `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*` and `OTEL_RESOURCE_ATTRIBUTES` as the OpenTelemetry
/// specification defines them (`OTEL_SDK_DISABLED=true` turns it off). Traces only: metrics stay
/// on Prometheus `/metrics` and logs on standard error. Without an endpoint nothing is exported
/// and every span is a no-op; the log itself still carries each event's trace context, which
/// `switchboard trace` reads (deploy/README.md, "Traces").
public enum TracingBootstrap {
    /// Whether `environment` asks for span export.
    public static func isConfigured(_ environment: [String: String]) -> Bool {
        guard environment["OTEL_SDK_DISABLED"]?.lowercased() != "true" else { return false }
        return [environment["OTEL_EXPORTER_OTLP_ENDPOINT"], environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]].contains { !($0 ?? "").isEmpty }
    }

    /// Installs the OTLP tracer for this process and returns the exporter's service (run it in
    /// the process's service group: it flushes the spans still batched when it shuts down), or
    /// nil when no endpoint is configured. Call once per process, before any span starts.
    public static func start(service: String, environment: [String: String], logger: Logger) throws -> (any Service)? {
        guard isConfigured(environment) else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "switchboard-\(service)"
        configuration.diagnosticLogger = .custom(logger)
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        let exporter = try OTel.bootstrap(configuration: configuration, environment: environment)
        logger.info("exporting traces over OTLP", metadata: [
            "otel.endpoint": "\(environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? environment["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? "")",
            "otel.protocol": "\(environment["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] ?? environment["OTEL_EXPORTER_OTLP_PROTOCOL"] ?? "http/protobuf")",
        ])
        return exporter
    }
}
