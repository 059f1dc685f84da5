import Foundation
import HTTPTypes
import Hummingbird
import JSON
import Logging
import NIOCore

/// A named dependency `/ready` checks (broker, database). It throws when the dependency is
/// unreachable; its error text is logged and summarised, never echoed with secrets.
public struct ReadinessCheck: Sendable {
    public var name: String
    public var check: @Sendable () async throws -> Void
    public init(name: String, check: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.check = check
    }
}

extension Router {
    /// `/health` (process is up), `/ready` (every dependency reachable, else 503 naming the
    /// failing ones) and `/metrics` (Prometheus text format) — on every service.
    /// `info` joins every `/health` and `/ready` answer (the librdkafka version).
    public func addObservabilityRoutes(service: String, checks: [ReadinessCheck], info: [String: String] = [:]) {
        get("/health") { _, _ -> Response in
            jsonResponse(.ok, info.merging(["status": "ok", "service": service]) { _, fixed in fixed })
        }
        get("/ready") { _, context -> Response in
            var failures: [String: String] = [:]
            await withTaskGroup(of: (String, String?).self) { group in
                for check in checks {
                    group.addTask {
                        do {
                            try await check.check()
                            return (check.name, nil)
                        } catch {
                            return (check.name, String(describing: error))
                        }
                    }
                }
                for await (name, failure) in group {
                    if let failure { failures[name] = failure }
                }
            }
            if failures.isEmpty {
                return jsonResponse(.ok, info.merging(["status": "ready", "service": service]) { _, fixed in fixed })
            }
            context.logger.warning("not ready", metadata: ["ready.failures": "\(failures)"])
            return jsonResponse(.serviceUnavailable, info.merging(["status": "not-ready", "service": service, "failing": failures.keys.sorted().joined(separator: ",")]) { _, fixed in fixed })
        }
        get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            ProcessBootstrap.metricsRegistry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
    }
}

/// A JSON response from already-encoded bytes.
public func jsonResponse(_ status: HTTPResponse.Status, bytes: [UInt8], headers: HTTPFields = [:]) -> Response {
    var headers = headers
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
}

func jsonResponse(_ status: HTTPResponse.Status, _ object: [String: String]) -> Response {
    return jsonResponse(status, bytes: JSONValue.object(object.mapValues(JSONValue.string)).serialized())
}
