import Foundation

/// What kind of caller a ``Principal`` is. The raw values travel in a token's `kind` claim.
public enum PrincipalKind: String, CaseIterable, Sendable, Codable, Hashable {
    /// A person of the tenant's staff signed in to a console.
    case user
    /// A human agent working the handover queue.
    case agent
    /// An end customer of the tenant, vouched for by the tenant's backend with a short-lived token.
    case customerSession = "customer_session"
    /// A server-to-server client holding an API key. Never carried by a token: a principal of
    /// this kind only comes from ``APIKeyRecord/authenticate(_:)``.
    case apiKey = "api_key"
}

/// Who is calling, after their credentials were verified: what the services authorise against.
public struct Principal: Sendable, Equatable, Hashable {
    /// The tenant the caller acts within. Every request is confined to this tenant.
    public var tenantID: String
    /// The caller's identity within the tenant: user id, agent id, API key id or customer id.
    public var subject: String
    public var kind: PrincipalKind
    public var scopes: Set<Scope>
    /// For customer sessions only: the one customer the token speaks for. `nil` otherwise.
    public var customerID: String?
    /// When the credential stops being valid; `nil` for API keys, which live until revoked.
    public var expiresAt: Date?

    public init(
        tenantID: String,
        subject: String,
        kind: PrincipalKind,
        scopes: Set<Scope>,
        customerID: String? = nil,
        expiresAt: Date? = nil
    ) {
        self.tenantID = tenantID
        self.subject = subject
        self.kind = kind
        self.scopes = scopes
        self.customerID = customerID
        self.expiresAt = expiresAt
    }

    /// Whether this principal may do what `scope` guards (`admin` allows everything).
    public func allows(_ scope: Scope) -> Bool {
        scopes.allows(scope)
    }
}
