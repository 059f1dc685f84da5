import Foundation
import Logging
import Metrics
import Prometheus

/// Process-wide logging and metrics set-up. Only executables call this (libraries take a Logger).
public enum ProcessBootstrap {
    /// Prometheus registry that `/metrics` renders; bootstrapped once per process.
    public static let metricsRegistry = PrometheusCollectorRegistry()

    /// `exitOnStdinEOF`: see `ParentWatch`.
    public static func bootstrap(logLevel: Logger.Level, exitOnStdinEOF: Bool) {
        let secrets = secretValues(ProcessInfo.processInfo.environment)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return RedactingLogHandler(wrapping: handler, secrets: secrets)
        }
        var factory = PrometheusMetricsFactory(registry: metricsRegistry)
        // Above the library's 10 s: model calls, long polls, event streams and human waits run
        // longer, and a histogram that stops at 10 s cannot tell 11 s from 5 minutes.
        factory.defaultDurationHistogramBuckets += [.seconds(30), .seconds(60), .seconds(120), .seconds(300)]
        MetricsSystem.bootstrap(factory)
        if exitOnStdinEOF { ParentWatch.start() }
    }
}

/// Values in the environment that must never be printed: variables named like secrets
/// (`*_KEY`, `*_SECRET`, `*_TOKEN`, `*_PASSWORD`, `*_AUTH_KEYS`), the one
/// `SWITCHBOARD_LLM_API_KEY_ENV` names, and a database URL's password.
public func secretValues(_ environment: [String: String]) -> [String] {
    var values: [String] = []
    let suffixes = ["_KEY", "_SECRET", "_TOKEN", "_PASSWORD", "_AUTH_KEYS", "_API_KEY"]
    for (name, value) in environment where suffixes.contains(where: name.hasSuffix) && !value.isEmpty { values.append(value) }
    if let named = environment["SWITCHBOARD_LLM_API_KEY_ENV"], let value = environment[named], !value.isEmpty { values.append(value) }
    for name in environment["SWITCHBOARD_FORWARD_ENV"]?.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) ?? [] {
        if let value = environment[name], !value.isEmpty { values.append(value) }
    }
    if let url = environment["DATABASE_URL"], let password = URLComponents(string: url)?.password, !password.isEmpty { values.append(password) }
    return values
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
