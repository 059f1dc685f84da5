public import AccessControl
public import Auth
public import HTTPTypes
public import HummingbirdTesting
public import NIOCore

/// Identities for route tests: one key set per test process, a gatekeeper that trusts it (rate
/// limits high enough never to interfere), and tokens signed with it.
public enum TestAccess {
    public static let keySet: AuthKeySet = {
        do { return try AuthKeySet.generateDevelopment() } catch { fatalError("cannot generate a development key set: \(error)") }
    }()

    public static var gatekeeper: Gatekeeper {
        Gatekeeper(settings: AccessSettings(
            keySet: keySet, clientLimit: .init(capacity: 100_000, refillPerSecond: 10_000),
            sessionLimit: .init(capacity: 100_000, refillPerSecond: 10_000), addressLimit: .init(capacity: 100_000, refillPerSecond: 10_000)), apiKeys: nil)
    }

    /// A user of `tenant` with `scopes` (an administrator by default), an agent, or with
    /// `customer` a customer session.
    public static func token(tenant: String = "default", scopes: Set<Scope> = [.admin], subject: String = "tester", kind: PrincipalKind = .user, customer: String? = nil) -> String {
        let principal = customer.map { Principal(tenantID: tenant, subject: $0, kind: .customerSession, scopes: [.chatSend], customerID: $0) }
            ?? Principal(tenantID: tenant, subject: subject, kind: kind, scopes: scopes)
        do { return try TokenIssuer(keySet: keySet).issue(for: principal, ttl: .seconds(3600)) } catch { fatalError("cannot sign a test token: \(error)") }
    }
}

/// A test client that sends a bearer token with every request that has no credentials of its
/// own; `unsigned` is the client without it.
public struct SignedClient: TestClientProtocol {
    public let unsigned: any TestClientProtocol
    public let token: String

    public init(_ client: any TestClientProtocol, token: String = TestAccess.token()) {
        unsigned = client
        self.token = token
    }

    public var port: Int? { unsigned.port }

    public func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        var headers = headers
        if headers[.authorization] == nil, headers[HTTPField.Name("X-API-Key")!] == nil { headers[.authorization] = "Bearer \(token)" }
        return try await unsigned.executeRequest(uri: uri, method: method, headers: headers, body: body)
    }
}
