import Dispatch
public import Hummingbird
import Metrics

/// RED metrics of every HTTP endpoint (deploy/README.md, Monitoring): `switchboard_http_requests_total`
/// by route (the route's pattern, so ids do not multiply series), method and status, and the
/// histogram `switchboard_http_request_duration_seconds` by route and method. Outermost in the
/// chain, so it sees the status the client gets (problem+json included). The duration is to
/// the response's head: a held request's wait counts, a stream's body does not.
public struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        func record(_ status: HTTPResponse.Status) {
            let route = context.endpointPath ?? "unmatched"
            Counter(label: "switchboard_http_requests_total", dimensions: [("route", route), ("method", request.method.rawValue), ("status", String(status.code))]).increment()
            Timer(label: "switchboard_http_request_duration_seconds", dimensions: [("route", route), ("method", request.method.rawValue)])
                .recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        }
        do {
            let response = try await next(request, context)
            record(response.status)
            return response
        } catch {
            record((error as? any HTTPResponseError)?.status ?? .internalServerError)
            throw error
        }
    }
}

/// Circuit breakers' states (deploy/README.md, Monitoring): the gauge
/// `switchboard_circuit_breaker_state{kind,key}` (0 closed, 1 half open, 2 open) and the
/// counter `switchboard_circuit_breaker_transitions_total{kind,key,to}`. `kind` is `model` or
/// `tool`; `key` the model's or tool's name.
public enum BreakerMetrics {
    public static func record(kind: String, key: String, to state: String) {
        let value: Int = switch state {
        case "open": 2
        case "half_open": 1
        default: 0
        }
        Gauge(label: "switchboard_circuit_breaker_state", dimensions: [("kind", kind), ("key", key)]).record(value)
        Counter(label: "switchboard_circuit_breaker_transitions_total", dimensions: [("kind", kind), ("key", key), ("to", state)]).increment()
    }
}
