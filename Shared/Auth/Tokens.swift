import Foundation

// Tokens are compact JWS (RFC 7515) signed with HS256 or ES256, built directly on
// swift-crypto rather than on vapor/jwt-kit, for three reasons:
// - jwt-kit 5.7+ requires swift-crypto 4.1 or later, while the platform resolves
//   swift-crypto 3.x (`from: "3.12.3"`); taking jwt-kit means moving every module to 4.x.
// - jwt-kit's key collection falls back to its default key when a token's `kid` is unknown
//   and does not compare the header's `alg` with the key's, so `unknown_kid` and algorithm
//   confusion would have to be checked here anyway, before handing it the token.
// - its API is async (an actor); verifying here is a synchronous pure function.
// What is left is small: split, base64url, two signature primitives from swift-crypto, and
// the claim checks, all covered by AuthTests. The wire format was cross-checked against PyJWT
// in both directions (HS256 and ES256; OpenSSL SEC1, PKCS#8 and SPKI PEMs) when written.

// MARK: - Claims

/// The payload of a Switchboard token. JSON names are the registered JWT claims (`sub`,
/// `exp`, `iat`, `nbf`, `iss`, `aud`) plus `tid` (tenant), `scope` (space-separated, as in
/// OAuth), `kind` (a ``PrincipalKind`` raw value) and `cid` (customer id, customer sessions).
///
/// Decoding requires `sub`, `tid`, `kind` and `exp`: a token without an expiry is refused.
/// Times are whole seconds since 1970 (fractions are dropped).
public struct TokenClaims: Codable, Sendable, Hashable {
    public var subject: String
    public var tenantID: String
    /// Space-separated scopes; unknown ones are ignored when verified (see ``Scope/parse(_:)``).
    public var scope: String
    public var kind: PrincipalKind
    public var customerID: String?
    public var expiresAt: Int64
    public var issuedAt: Int64?
    public var notBefore: Int64?
    public var issuer: String?
    /// `aud` may be a string or an array in JWTs; both decode here. Empty when absent.
    public var audience: [String]

    public init(
        subject: String,
        tenantID: String,
        scope: String,
        kind: PrincipalKind,
        customerID: String? = nil,
        expiresAt: Int64,
        issuedAt: Int64? = nil,
        notBefore: Int64? = nil,
        issuer: String? = nil,
        audience: [String] = []
    ) {
        self.subject = subject
        self.tenantID = tenantID
        self.scope = scope
        self.kind = kind
        self.customerID = customerID
        self.expiresAt = expiresAt
        self.issuedAt = issuedAt
        self.notBefore = notBefore
        self.issuer = issuer
        self.audience = audience
    }

    enum CodingKeys: String, CodingKey {
        case subject = "sub"
        case tenantID = "tid"
        case scope, kind
        case customerID = "cid"
        case expiresAt = "exp"
        case issuedAt = "iat"
        case notBefore = "nbf"
        case issuer = "iss"
        case audience = "aud"
    }

    /// Throws ``AuthError`` (`missing_claim` / `invalid_claim`) naming the claim at fault.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)

        func optionalString(_ key: CodingKeys) throws(AuthError) -> String? {
            do {
                return try container.decodeIfPresent(String.self, forKey: key)
            } catch {
                throw .invalidClaim(key.rawValue, "the '\(key.rawValue)' claim must be a string")
            }
        }
        func requiredString(_ key: CodingKeys) throws(AuthError) -> String {
            guard let value = try optionalString(key), !value.isEmpty else {
                throw .missingClaim(key.rawValue)
            }
            return value
        }
        func numericDate(_ key: CodingKeys) throws(AuthError) -> Int64? {
            let seconds: Double?
            do {
                seconds = try container.decodeIfPresent(Double.self, forKey: key)
            } catch {
                throw .invalidClaim(key.rawValue, "the '\(key.rawValue)' claim must be a number of seconds")
            }
            guard let seconds else { return nil }
            // Beyond year 9999 or before 1970 is no date a token of ours carries.
            guard seconds.isFinite, seconds >= 0, seconds < 253_402_300_800 else {
                throw .invalidClaim(key.rawValue, "the '\(key.rawValue)' claim is out of range")
            }
            return Int64(seconds.rounded(.down))
        }

        subject = try requiredString(.subject)
        tenantID = try requiredString(.tenantID)
        scope = try optionalString(.scope) ?? ""
        guard let kind = PrincipalKind(rawValue: try requiredString(.kind)) else {
            throw AuthError.invalidClaim("kind", "the 'kind' claim is not a known principal kind")
        }
        self.kind = kind
        customerID = try optionalString(.customerID)
        guard let expiresAt = try numericDate(.expiresAt) else {
            throw AuthError.missingClaim("exp")
        }
        self.expiresAt = expiresAt
        issuedAt = try numericDate(.issuedAt)
        notBefore = try numericDate(.notBefore)
        issuer = try optionalString(.issuer)
        if let single = try? container.decodeIfPresent(String.self, forKey: .audience) {
            audience = [single]
        } else if let list = try? container.decodeIfPresent([String].self, forKey: .audience) {
            audience = list
        } else if container.contains(.audience), (try? container.decodeNil(forKey: .audience)) != true {
            throw AuthError.invalidClaim("aud", "the 'aud' claim must be a string or an array of strings")
        } else {
            audience = []
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(subject, forKey: .subject)
        try container.encode(tenantID, forKey: .tenantID)
        try container.encode(scope, forKey: .scope)
        try container.encode(kind.rawValue, forKey: .kind)
        try container.encodeIfPresent(customerID, forKey: .customerID)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encodeIfPresent(issuedAt, forKey: .issuedAt)
        try container.encodeIfPresent(notBefore, forKey: .notBefore)
        try container.encodeIfPresent(issuer, forKey: .issuer)
        if audience.count == 1 {
            try container.encode(audience[0], forKey: .audience)
        } else if !audience.isEmpty {
            try container.encode(audience, forKey: .audience)
        }
    }
}

/// The JOSE header fields this module reads. Others (`typ`, `cty`, …) are ignored; key
/// locators such as `jku`, `x5u` or `jwk` are ignored too, since keys only ever come from
/// the configured ``AuthKeySet``.
struct TokenHeader: Codable {
    var alg: String?
    var kid: String?
    var typ: String?
    /// Critical extensions (RFC 7515 §4.1.11): this module understands none, so any
    /// `crit` makes the token unacceptable.
    var crit: [String]?
}
