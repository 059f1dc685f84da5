import Crypto
import Foundation

/// Verifies Switchboard tokens (compact JWS, HS256 or ES256) against an ``AuthKeySet`` and
/// turns them into a ``Principal``.
///
/// What is checked, in order: size and shape; the header's `kid` names a configured key and
/// its `alg` is that key's algorithm (so `none`, and HS256 signed with an ES256 public key,
/// are refused before any signature work); the signature; only then the payload: `sub`,
/// `tid`, `kind`, `exp` present, `exp`/`nbf` against the clock with ``leeway``, `iss` and
/// `aud` when the key set names them, and the key's tenant/kind restrictions.
///
/// Customer-session tokens must carry `cid`, and their scopes are narrowed to `chat:send`
/// whatever the token says. Tokens claiming kind `api_key` are refused: that kind only comes
/// from API key verification. Unknown scope strings are ignored (OAuth practice), `iat` is
/// informational and not checked, and `cid` on any other kind of token is dropped.
///
/// Keys are fixed at construction; to rotate, build a new verifier from the new key set.
public struct TokenVerifier: Sendable {
    public let keySet: AuthKeySet
    /// Tolerated clock skew between issuer and verifier for `exp` and `nbf`.
    public let leeway: Duration
    private let now: @Sendable () -> Date

    /// Longer input is refused before any parsing: no legitimate token of ours comes close.
    public static let maximumTokenLength = 8 * 1024

    /// - Parameters:
    ///   - leeway: clock skew tolerated on `exp` and `nbf`; 30 seconds by default.
    ///   - now: the clock; inject a fixed one in tests.
    public init(keySet: AuthKeySet, leeway: Duration = .seconds(30), now: @escaping @Sendable () -> Date = { Date() }) {
        self.keySet = keySet
        self.leeway = leeway
        self.now = now
    }

    /// Verifies `token` and returns who it speaks for.
    public func verify(_ token: some StringProtocol) throws(AuthError) -> Principal {
        let (claims, key) = try verifiedClaims(token)
        if let boundTenant = key.tenantID, boundTenant != claims.tenantID {
            throw AuthError(.keyNotPermitted, reason: "the signing key may not vouch for this tenant")
        }
        if let kinds = key.kinds, !kinds.contains(claims.kind) {
            throw AuthError(.keyNotPermitted, reason: "the signing key may not vouch for this kind of principal")
        }
        var scopes = Scope.parse(claims.scope)
        var customerID: String?
        switch claims.kind {
        case .apiKey:
            throw AuthError.invalidClaim("kind", "tokens cannot claim the api_key kind")
        case .customerSession:
            guard let cid = claims.customerID, !cid.isEmpty else {
                throw AuthError.missingClaim("cid")
            }
            customerID = cid
            scopes.formIntersection([.chatSend])
        case .user, .agent:
            break
        }
        return Principal(
            tenantID: claims.tenantID,
            subject: claims.subject,
            kind: claims.kind,
            scopes: scopes,
            customerID: customerID,
            expiresAt: Date(timeIntervalSince1970: TimeInterval(claims.expiresAt))
        )
    }

    /// Checks signature, times, issuer and audience, and returns the claims with the key that
    /// signed them.
    private func verifiedClaims(_ token: some StringProtocol) throws(AuthError) -> (TokenClaims, AuthKeySet.Key) {
        guard token.utf8.count <= Self.maximumTokenLength else {
            throw .malformed("the token is longer than \(Self.maximumTokenLength) bytes")
        }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw .malformed("a token has three dot-separated parts")
        }
        guard let headerBytes = Base64URL.decode(parts[0]),
            let header = try? JSONDecoder().decode(TokenHeader.self, from: headerBytes)
        else {
            throw .malformed("the token header is not base64url JSON")
        }
        guard header.crit == nil else {
            throw .malformed("the token header has critical extensions this verifier does not support")
        }
        guard let algorithmName = header.alg else {
            throw .malformed("the token header has no alg")
        }
        guard let algorithm = TokenAlgorithm(rawValue: algorithmName) else {
            throw AuthError(.unsupportedAlgorithm, reason: "only HS256 and ES256 tokens are accepted")
        }
        guard let kid = header.kid else {
            throw AuthError(.unknownKID, reason: "the token header names no key (kid)")
        }
        guard let key = keySet.key(kid: kid) else {
            throw AuthError(.unknownKID, reason: "the token names a key that is not configured")
        }
        guard key.algorithm == algorithm else {
            throw AuthError(.algorithmMismatch, reason: "the token's alg is not the algorithm of the key it names")
        }
        guard let signature = Base64URL.decode(parts[2]) else {
            throw .malformed("the token signature is not base64url")
        }
        let signingInput = Data(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard Self.isValid(signature: signature, for: signingInput, with: key.material) else {
            throw AuthError(.badSignature, reason: "the token signature does not match")
        }

        // Only signed bytes are parsed beyond the header.
        guard let payloadBytes = Base64URL.decode(parts[1]) else {
            throw .malformed("the token payload is not base64url")
        }
        let claims: TokenClaims
        do {
            claims = try JSONDecoder().decode(TokenClaims.self, from: payloadBytes)
        } catch let error as AuthError {
            throw error
        } catch {
            throw .malformed("the token payload is not a JSON object")
        }

        let nowSeconds = now().timeIntervalSince1970
        let leewaySeconds = leeway.inSeconds
        // RFC 7519 §4.1.4: the token is invalid at and after `exp`.
        guard nowSeconds < Double(claims.expiresAt) + leewaySeconds else {
            throw AuthError(.expired, reason: "the token has expired")
        }
        if let notBefore = claims.notBefore, nowSeconds + leewaySeconds < Double(notBefore) {
            throw AuthError(.notYetValid, reason: "the token is not valid yet")
        }
        if let expectedIssuer = keySet.issuer {
            guard let issuer = claims.issuer else { throw .missingClaim("iss") }
            guard issuer == expectedIssuer else {
                throw AuthError(.wrongIssuer, reason: "the token was issued by another issuer")
            }
        }
        if let expectedAudience = keySet.audience {
            guard !claims.audience.isEmpty else { throw .missingClaim("aud") }
            guard claims.audience.contains(expectedAudience) else {
                throw AuthError(.wrongAudience, reason: "the token is meant for another audience")
            }
        }
        return (claims, key)
    }

    private static func isValid(signature: Data, for signingInput: Data, with material: KeyMaterial) -> Bool {
        switch material {
        case .hmac(let secret):
            // swift-crypto compares authentication codes in constant time.
            return HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: secret)
        case .es256(let publicKey, _):
            // JWS carries ECDSA signatures as raw r‖s (RFC 7518 §3.4), 64 bytes for P-256.
            guard signature.count == 64,
                let ecdsaSignature = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return publicKey.isValidSignature(ecdsaSignature, for: signingInput)
        }
    }
}
