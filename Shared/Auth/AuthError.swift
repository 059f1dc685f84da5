/// Why a credential was refused, or why auth configuration is unusable.
///
/// The ``code`` is stable and safe to return to clients and to use in metrics; ``reason`` is
/// prose for logs. Neither ever contains a token, an API key, a secret or key material: the
/// reasons are fixed texts chosen here, never built from the input being rejected.
public struct AuthError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable reason code.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// Not a well-formed token or credential (wrong shape, bad base64url or JSON, too long).
        case malformed
        /// The token's `alg` is not one this verifier accepts (`none` among them).
        case unsupportedAlgorithm = "unsupported_alg"
        /// The token's `alg` differs from the algorithm of the key its `kid` names.
        case algorithmMismatch = "algorithm_mismatch"
        /// The token names no key, or a key that is not configured (for instance rotated out).
        case unknownKID = "unknown_kid"
        /// The signature does not match the header and payload.
        case badSignature = "bad_signature"
        /// `exp` is past, beyond the verifier's leeway.
        case expired
        /// `nbf` is in the future, beyond the verifier's leeway.
        case notYetValid = "not_yet_valid"
        /// `iss` differs from the configured issuer.
        case wrongIssuer = "wrong_issuer"
        /// `aud` does not contain the configured audience.
        case wrongAudience = "wrong_audience"
        /// A required claim is absent or empty; ``AuthError/claim`` names it.
        case missingClaim = "missing_claim"
        /// A claim has the wrong type or an unacceptable value; ``AuthError/claim`` names it.
        case invalidClaim = "invalid_claim"
        /// The signing key is restricted (to a tenant or to principal kinds) and the token
        /// goes beyond that restriction.
        case keyNotPermitted = "key_not_permitted"
        /// The API key is unknown, malformed or its secret is wrong (deliberately one code).
        case invalidAPIKey = "invalid_api_key"
        /// The API key was revoked.
        case revokedAPIKey = "revoked_api_key"
        /// Server side: the key set cannot be loaded or used (a 500, not the client's fault).
        case invalidKeySet = "invalid_key_set"
        /// Server side: the issuer has no private key for the requested signing key.
        case cannotSign = "cannot_sign"
    }

    public let code: Code
    /// The claim concerned, for ``Code/missingClaim`` and ``Code/invalidClaim``.
    public let claim: String?
    /// A fixed human-readable explanation, free of input text.
    public let reason: String

    public init(_ code: Code, claim: String? = nil, reason: String) {
        self.code = code
        self.claim = claim
        self.reason = reason
    }

    /// Whether the fault is in the server's configuration rather than in what the client sent.
    public var isServerError: Bool {
        code == .invalidKeySet || code == .cannotSign
    }

    public var description: String {
        if let claim {
            return "\(code.rawValue)(\(claim)): \(reason)"
        }
        return "\(code.rawValue): \(reason)"
    }

    static func missingClaim(_ claim: String) -> AuthError {
        AuthError(.missingClaim, claim: claim, reason: "the token has no usable '\(claim)' claim")
    }

    static func invalidClaim(_ claim: String, _ reason: String) -> AuthError {
        AuthError(.invalidClaim, claim: claim, reason: reason)
    }

    static func malformed(_ reason: String) -> AuthError {
        AuthError(.malformed, reason: reason)
    }

    static func invalidKeySet(_ reason: String) -> AuthError {
        AuthError(.invalidKeySet, reason: reason)
    }
}
