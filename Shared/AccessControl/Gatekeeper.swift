public import APIContract
public import Auth
import Foundation
import Synchronization
import HTTPTypes
public import Hummingbird
import NIOCore
public import ServiceRuntime

/// Who may call an endpoint: any of `scopes` (`admin` allows everything), and whether the
/// token may come in the `access_token` query parameter (only for server-sent event streams,
/// which browsers open without headers; RFC 6750 §2.3).
public struct Access: Sendable, Hashable {
    public var scopes: Set<Scope>
    public var tokenInQuery: Bool

    public init(_ scopes: Scope..., tokenInQuery: Bool = false) {
        self.scopes = Set(scopes)
        self.tokenInQuery = tokenInQuery
    }
}

/// Admits a request or answers it with problem+json: 401 without valid credentials, 403
/// without the endpoint's scope, 429 past a rate limit (per principal; per client address
/// for requests without valid credentials). The tenant of everything the request
/// then does is the credential's, never the body's.
public struct Gatekeeper: Sendable {
    let verifier: TokenVerifier
    let apiKeys: APIKeyStore?
    let clients: RateLimiter
    let sessions: RateLimiter
    let addresses: RateLimiter
    let trustedProxies: Set<String>

    public init(settings: AccessSettings, apiKeys: APIKeyStore?) {
        verifier = TokenVerifier(keySet: settings.keySet)
        self.apiKeys = apiKeys
        clients = RateLimiter(configuration: settings.clientLimit)
        sessions = RateLimiter(configuration: settings.sessionLimit)
        addresses = RateLimiter(configuration: settings.addressLimit)
        trustedProxies = settings.trustedProxies
    }

    public func admit(_ request: Request, context: some RemoteAddressRequestContext, access: Access) async throws -> Principal {
        do {
            return try await authenticate(request, access: access)
        } catch let problem as ProblemDetails where problem.status == .unauthorized {
            // Requests without valid credentials are limited per client address (credential
            // guessing, anonymous floods); authenticated ones per principal, since behind a load
            // balancer without trusted proxies every client shares one address.
            if let address = clientAddress(request, context: context) {
                try Self.check(addresses.take("address:" + address), kind: "client address")
            }
            throw problem
        }
    }

    func authenticate(_ request: Request, access: Access) async throws -> Principal {
        var queryToken: String?
        if access.tokenInQuery, let token = request.uri.queryParameters.get("access_token"), !token.isEmpty { queryToken = token }
        let credentials: Credentials?
        do {
            credentials = try queryToken.map { .bearer($0) }
                ?? Credentials.parse(authorization: request.headers[.authorization], apiKey: request.headers[HTTPField.Name(Credentials.apiKeyHeaderName)!])
        } catch let error as AuthError {
            throw Self.unauthenticated("invalid-credentials", "Credentials are malformed", detail: error.reason)
        }
        guard let credentials else {
            throw Self.unauthenticated("unauthenticated", "This endpoint needs a bearer token or an API key")
        }
        let principal: Principal
        do {
            switch credentials {
            case .bearer(let token):
                principal = try verifier.verify(token)
            case .apiKey(let presented):
                guard let apiKeys, let (keyID, _) = APIKey.parse(presented), let record = try await apiKeys.record(keyID) else {
                    throw AuthError(.invalidAPIKey, reason: "the API key is not valid")
                }
                principal = try record.authenticate(presented)
            }
        } catch let error as AuthError {
            throw Self.unauthenticated("invalid-credentials", "The credentials were not accepted", detail: error.reason)
        }
        guard access.scopes.contains(where: principal.allows) else {
            throw ProblemDetails(
                .forbidden, kind: "insufficient-scope",
                title: "This endpoint needs the scope \(access.scopes.map(\.rawValue).sorted().joined(separator: " or "))",
                headers: [.wwwAuthenticate: "Bearer error=\"insufficient_scope\", scope=\"\(access.scopes.map(\.rawValue).sorted().joined(separator: " "))\""])
        }
        switch principal.kind {
        case .customerSession:
            try Self.check(sessions.take("session:\(principal.tenantID)/\(principal.subject)"), kind: "customer session")
        case .apiKey, .user, .agent:
            try Self.check(clients.take("\(principal.kind.rawValue):\(principal.tenantID)/\(principal.subject)"), kind: "client")
        }
        return principal
    }

    /// The client's address: the peer's, or behind a trusted load balancer the last address
    /// in `X-Forwarded-For` that is not one of the trusted proxies.
    func clientAddress(_ request: Request, context: some RemoteAddressRequestContext) -> String? {
        guard let peer = context.remoteAddress?.ipAddress else { return nil }
        guard trustedProxies.contains(peer), let forwarded = request.headers[HTTPField.Name("X-Forwarded-For")!] else { return peer }
        let hops = forwarded.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return hops.last { !trustedProxies.contains($0) } ?? peer
    }

    static func check(_ decision: RateLimitDecision, kind: String) throws {
        guard case .limited = decision else { return }
        let seconds = decision.retryAfterSeconds ?? 1
        throw ProblemDetails(
            .tooManyRequests, kind: "rate-limited", title: "Too many requests for this \(kind); retry after \(seconds) s",
            headers: [.retryAfter: String(seconds)])
    }

    static func unauthenticated(_ kind: String, _ title: String, detail: String? = nil) -> ProblemDetails {
        ProblemDetails(.unauthorized, kind: kind, title: title, detail: detail, headers: [.wwwAuthenticate: "Bearer realm=\"switchboard\""])
    }
}

/// Routes that declare who may call them. Each handler receives the admitted principal; the
/// declarations are kept (`endpoints`) so tests can call every endpoint without credentials.
/// With the service's published `contract`, a request's body is checked against its
/// operation's schema after the caller is admitted and before the handler runs, and the
/// document is served at `/openapi.json`.
public struct SecuredRoutes {
    public struct Endpoint: Sendable, Hashable {
        public var method: String
        public var path: String
        public var access: Access?
    }

    let router: Router<EdgeRequestContext>
    let gatekeeper: Gatekeeper
    let contract: APIDocument?
    private let declared = EndpointList()

    public init(router: Router<EdgeRequestContext>, gatekeeper: Gatekeeper, contract: APIDocument? = nil) {
        self.router = router
        self.gatekeeper = gatekeeper
        self.contract = contract
        if let contract {
            router.add(middleware: MethodNotAllowedMiddleware(contract: contract))
            let document = contract.json.serialized()
            router.get("/openapi.json") { _, _ in
                Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: document)))
            }
        }
    }

    public var endpoints: [Endpoint] { declared.all }

    public typealias Handler = @Sendable (Request, EdgeRequestContext, Principal) async throws -> Response

    public func get(_ path: String, _ access: Access, use handler: @escaping Handler) { add(.get, path, access, handler) }
    public func post(_ path: String, _ access: Access, use handler: @escaping Handler) { add(.post, path, access, handler) }
    public func put(_ path: String, _ access: Access, use handler: @escaping Handler) { add(.put, path, access, handler) }
    public func delete(_ path: String, _ access: Access, use handler: @escaping Handler) { add(.delete, path, access, handler) }

    /// An endpoint anyone may call (pages and scripts with no data in them).
    public func open(_ path: String, use handler: @escaping @Sendable (Request, EdgeRequestContext) async throws -> Response) {
        declared.append(Endpoint(method: "GET", path: path, access: nil))
        router.get(RouterPath(path), use: handler)
    }

    func add(_ method: HTTPRequest.Method, _ path: String, _ access: Access, _ handler: @escaping Handler) {
        declared.append(Endpoint(method: method.rawValue, path: path, access: access))
        let gatekeeper = self.gatekeeper
        let rule = contract?.bodyRule(method: method.rawValue, path: path)
        router.on(RouterPath(path), method: method) { request, context in
            let principal = try await gatekeeper.admit(request, context: context, access: access)
            guard let rule else { return try await handler(request, context, principal) }
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: RequestBodyRule.maxBytes)
            } catch let error as HTTPError where error.status == .contentTooLarge {
                throw ProblemDetails(.contentTooLarge, kind: "body-too-large", title: "Body larger than \(RequestBodyRule.maxBytes) bytes")
            }
            let bytes = Array(buffer: buffer)
            if case .invalid(let status, let kind, let title, let field) = rule.check(bytes, contentType: request.headers[.contentType]) {
                throw ProblemDetails(.init(code: status), kind: kind, title: title, field: field)
            }
            // The handler reads the body it was given (already collected).
            var checked = request
            checked.body = RequestBody(buffer: buffer)
            return try await handler(checked, context, principal)
        }
    }
}

/// A method the document does not list for a path it does: 405 with `Allow`, not 404.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let contract: APIDocument

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            guard let methods = contract.methods(forRequestPath: request.uri.path), !methods.contains(request.method.rawValue) else { throw error }
            throw ProblemDetails(
                .methodNotAllowed, kind: "method-not-allowed", title: "\(request.method.rawValue) is not allowed here",
                headers: [.allow: methods.sorted().joined(separator: ", ")])
        }
    }
}

final class EndpointList: Sendable {
    private let list = Mutex<[SecuredRoutes.Endpoint]>([])
    var all: [SecuredRoutes.Endpoint] { list.withLock { $0 } }
    func append(_ endpoint: SecuredRoutes.Endpoint) { list.withLock { $0.append(endpoint) } }
}
