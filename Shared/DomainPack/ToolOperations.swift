public import ToolRuntime
import Foundation

/// How the executor runs one tool, from its contract: retries, rate limit, read cache, circuit
/// breaker, the scope a caller needs, and where an `http` tool lives. Every field has a safe
/// default, so a pack only writes what differs.
///
/// ```yaml
/// retries: {attempts: 3, base_delay_ms: 100, max_delay_ms: 2000}
/// rate_limit: {per_second: 5, burst: 10}
/// cache_ttl_ms: 30000            # read tools only
/// circuit_breaker: {failures: 5, cool_down_ms: 30000}
/// auth_scope: orders:read
/// http:                          # binding: http
///   method: GET
///   url: https://shop.example/api/orders/{order_id}
///   headers: {X-Shop: demo}
///   auth: {header: Authorization, scheme: Bearer, secret_env: SHOP_API_TOKEN}
/// ```
public struct ToolOperations: Sendable, Equatable {
    public var retry: RetryPolicy = .none
    public var rateLimit: RateLimit?
    public var cacheTTL: Duration?
    /// Defaults to 5 consecutive failures and a 30 s cool-down, one trial call at a time.
    public var circuitBreaker = BreakerConfig(failureThreshold: 5, coolDown: .seconds(30))
    public var authScope: String?
    public var http: HTTPBinding?

    public struct RateLimit: Sendable, Equatable {
        public var perSecond: Double
        public var burst: Int
        public init(perSecond: Double, burst: Int) {
            self.perSecond = perSecond
            self.burst = burst
        }
    }

    public init() {}
}

extension Node {
    /// The operations fields of the tool contract at this node; `readOnly` tools only may cache.
    func toolOperations(binding: String, readOnly: Bool) throws -> ToolOperations {
        var operations = ToolOperations()
        if let retries = optional("retries") {
            operations.retry = RetryPolicy(
                attempts: try retries.int("attempts", default: 1, range: 1...10),
                baseDelay: .milliseconds(try retries.int("base_delay_ms", default: 100, range: 1...60_000)),
                maxDelay: .milliseconds(try retries.int("max_delay_ms", default: 2000, range: 1...120_000)))
        }
        if let limit = optional("rate_limit") {
            let perSecond = try limit.int("per_second", default: 0, range: 1...100_000)
            operations.rateLimit = .init(perSecond: Double(perSecond), burst: try limit.int("burst", default: perSecond, range: 1...100_000))
        }
        if let ttl = optional("cache_ttl_ms") {
            guard readOnly else { throw DomainPackError(path: ttl.path, message: "only read-only tools may be cached") }
            operations.cacheTTL = .milliseconds(try int("cache_ttl_ms", default: 0, range: 1...86_400_000))
        }
        if let breaker = optional("circuit_breaker") {
            operations.circuitBreaker = BreakerConfig(
                failureThreshold: try breaker.int("failures", default: 5, range: 1...1000),
                coolDown: .milliseconds(try breaker.int("cool_down_ms", default: 30_000, range: 100...3_600_000)))
        }
        if optional("auth_scope") != nil { operations.authScope = try string("auth_scope") }
        switch (binding, optional("http")) {
        case ("http", let http?):
            let method = try http.string("method").uppercased()
            guard ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(method) else {
                throw DomainPackError(path: http.path + ".method", message: "must be GET, POST, PUT, PATCH or DELETE")
            }
            let url = try http.string("url")
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw DomainPackError(path: http.path + ".url", message: "must be an http(s) URL")
            }
            operations.http = HTTPBinding(method: method, urlTemplate: url, headers: try http.stringMap("headers"), auth: try http.auth())
        case ("http", nil):
            throw DomainPackError(path: path + ".http", message: "required for binding: http")
        case (_, let http?):
            throw DomainPackError(path: http.path, message: "only for binding: http")
        case (_, nil):
            break
        }
        return operations
    }
}

extension Node {
    /// `auth: {header, scheme, secret_env}` under this node, if present.
    func auth() throws -> HTTPBinding.Auth? {
        guard let node = optional("auth") else { return nil }
        return .init(
            header: try node.text("header", default: "Authorization"),
            scheme: node.optional("scheme") == nil ? "Bearer" : try node.text("scheme", default: "Bearer"),
            secretEnv: try node.string("secret_env"))
    }

    /// An entry of the pack's `openapi` list: `{document, base_url, auth?, timeout_ms?,
    /// retries?, circuit_breaker?, rate_limit?}`; the operations settings apply to every tool.
    func openAPITools(directory: String) throws -> [ToolContract] {
        let file = try string("document")
        let path = file.hasPrefix("/") ? file : directory + "/" + file
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DomainPackError(path: self.path + ".document", message: "cannot read \(path)")
        }
        let baseURL = try string("base_url")
        guard baseURL.hasPrefix("http://") || baseURL.hasPrefix("https://") else {
            throw DomainPackError(path: self.path + ".base_url", message: "must be an http(s) URL")
        }
        var operations = try toolOperations(binding: "openapi", readOnly: false)
        operations.cacheTTL = nil
        return try OpenAPIImport.tools(from: .init(
            text: String(decoding: data, as: UTF8.self), origin: path, baseURL: baseURL, auth: try auth(),
            timeoutMs: try int("timeout_ms", default: 2000, range: 1...120_000), operations: operations))
    }
}
