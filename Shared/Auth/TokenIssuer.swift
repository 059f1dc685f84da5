import Crypto
import Foundation

/// Signs Switchboard tokens: development tokens for people and agents, and the short-lived
/// customer-session tokens a tenant's backend hands to its web or app client.
public struct TokenIssuer: Sendable {
    public let keySet: AuthKeySet
    /// The key every token from this issuer is signed with.
    public let signingKID: String
    private let signingKey: AuthKeySet.Key
    private let now: @Sendable () -> Date

    /// Customer sessions are short-lived so that a leaked token is of little use.
    public static let defaultCustomerSessionTTL: Duration = .seconds(15 * 60)

    /// - Parameters:
    ///   - signingKID: the key to sign with; the key set's `signing_kid` when `nil`.
    ///   - now: the clock; inject a fixed one in tests.
    public init(keySet: AuthKeySet, signingKID: String? = nil, now: @escaping @Sendable () -> Date = { Date() }) throws(AuthError) {
        guard let kid = signingKID ?? keySet.signingKID else {
            throw AuthError(.cannotSign, reason: "no signing key chosen and the key set names no signing_kid")
        }
        guard let key = keySet.key(kid: kid) else {
            throw AuthError(.cannotSign, reason: "the signing key is not in the key set")
        }
        guard key.canSign else {
            throw AuthError(.cannotSign, reason: "the signing key has no private key")
        }
        self.keySet = keySet
        self.signingKID = kid
        self.signingKey = key
        self.now = now
    }

    /// A token for `principal`, valid for `ttl` from now. `principal.expiresAt` is ignored.
    ///
    /// Refuses what a verifier would refuse: an empty tenant or subject, the `api_key` kind,
    /// a customer session without a customer id or with scopes beyond `chat:send`, and a
    /// tenant or kind the signing key is restricted from.
    public func issue(for principal: Principal, ttl: Duration) throws(AuthError) -> String {
        guard !principal.tenantID.isEmpty else { throw .missingClaim("tid") }
        guard !principal.subject.isEmpty else { throw .missingClaim("sub") }
        guard ttl > .zero else {
            throw .invalidClaim("exp", "the time to live must be positive")
        }
        switch principal.kind {
        case .apiKey:
            throw .invalidClaim("kind", "tokens cannot carry the api_key kind")
        case .customerSession:
            guard let customerID = principal.customerID, !customerID.isEmpty else { throw .missingClaim("cid") }
            guard principal.scopes.isSubset(of: [.chatSend]) else {
                throw .invalidClaim("scope", "customer sessions may only hold chat:send")
            }
        case .user, .agent:
            break
        }
        guard signingKey.permits(tenantID: principal.tenantID, kind: principal.kind) else {
            throw AuthError(.keyNotPermitted, reason: "the signing key may not vouch for this tenant or kind of principal")
        }

        let issuedAt = Int64(now().timeIntervalSince1970.rounded(.down))
        let claims = TokenClaims(
            subject: principal.subject,
            tenantID: principal.tenantID,
            scope: Scope.render(principal.scopes),
            kind: principal.kind,
            customerID: principal.kind == .customerSession ? principal.customerID : nil,
            expiresAt: issuedAt + max(1, ttl.components.seconds),
            issuedAt: issuedAt,
            issuer: keySet.issuer,
            audience: keySet.audience.map { [$0] } ?? []
        )
        return try sign(claims)
    }

    /// A customer-session token: subject and `cid` are the customer, scope is `chat:send`
    /// only, bound to `tenantID`, valid for `ttl` (15 minutes by default).
    public func issueCustomerSession(tenantID: String, customerID: String, ttl: Duration = defaultCustomerSessionTTL) throws(AuthError) -> String {
        guard !customerID.isEmpty else { throw .missingClaim("cid") }
        return try issue(
            for: Principal(tenantID: tenantID, subject: customerID, kind: .customerSession, scopes: [.chatSend], customerID: customerID),
            ttl: ttl
        )
    }

    /// Signs claims with the signing key as they are: the checks are ``issue(for:ttl:)``'s.
    private func sign(_ claims: TokenClaims) throws(AuthError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let header = TokenHeader(alg: signingKey.algorithm.rawValue, kid: signingKID, typ: "JWT")
        let headerJSON: Data
        let payloadJSON: Data
        do {
            headerJSON = try encoder.encode(header)
            payloadJSON = try encoder.encode(claims)
        } catch {
            throw AuthError(.cannotSign, reason: "the token could not be encoded")
        }
        let signingInput = Base64URL.encode(headerJSON) + "." + Base64URL.encode(payloadJSON)
        let signature: Data
        switch signingKey.material {
        case .hmac(let secret):
            signature = Data(HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: secret))
        case .es256(_, let privateKey):
            guard let privateKey else {
                throw AuthError(.cannotSign, reason: "the signing key has no private key")
            }
            do {
                signature = try privateKey.signature(for: Data(signingInput.utf8)).rawRepresentation
            } catch {
                throw AuthError(.cannotSign, reason: "ECDSA signing failed")
            }
        }
        return signingInput + "." + Base64URL.encode(signature)
    }
}
