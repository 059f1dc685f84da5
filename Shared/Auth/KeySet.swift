import Crypto
import Foundation

/// A JWS signing algorithm this module accepts. There is deliberately no `none`.
public enum TokenAlgorithm: String, Sendable, Codable, Hashable, CaseIterable {
    /// HMAC with SHA-256: one shared secret signs and verifies. For development and for
    /// services that both mint and check their own tokens.
    case hs256 = "HS256"
    /// ECDSA on P-256 with SHA-256: the private key signs, the public key verifies, so
    /// verifiers need no secret. Recommended for anything shared between parties.
    case es256 = "ES256"
}

/// The parsed key itself. swift-crypto 3.x predates `Sendable` annotations; its keys are
/// immutable values that are safe to share (swift-crypto 4 declares them `Sendable`).
enum KeyMaterial: @unchecked Sendable {
    case hmac(SymmetricKey)
    case es256(publicKey: P256.Signing.PublicKey, privateKey: P256.Signing.PrivateKey?)
}

/// The keys tokens are signed and verified with, plus the expected issuer and audience.
///
/// Several keys are active at once so keys can be rotated: add the new key, switch
/// `signing_kid` to it, and remove the old key once the longest-lived token it signed has
/// expired. A token whose `kid` is no longer in the set fails with `unknown_kid`.
///
/// JSON form (for an environment variable or a file):
/// ```json
/// {"keys": [{"kid": "k1", "alg": "HS256", "secret": "<base64, 32+ bytes>"},
///           {"kid": "k2", "alg": "ES256", "public_key_pem": "-----BEGIN PUBLIC KEY-----...",
///            "private_key_pem": "-----BEGIN PRIVATE KEY-----...",
///            "tenant": "acme", "kinds": ["customer_session"]}],
///  "issuer": "switchboard", "audience": "switchboard", "signing_kid": "k2"}
/// ```
/// `private_key_pem` is optional: a verifier needs only public keys. `tenant` and `kinds`
/// optionally restrict what a key may vouch for (a tenant backend's key for customer sessions).
public struct AuthKeySet: Codable, Sendable, CustomStringConvertible {
    /// One key, named by its `kid`.
    public struct Key: Codable, Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        /// The key id that tokens carry in their header to name this key.
        public let kid: String
        public let algorithm: TokenAlgorithm
        /// If set, this key only vouches for tokens of this tenant.
        public let tenantID: String?
        /// If set, this key only vouches for tokens of these principal kinds.
        public let kinds: Set<PrincipalKind>?
        let material: KeyMaterial

        /// The shortest HS256 secret accepted: RFC 7518 §3.2 asks for at least the hash size.
        public static let minimumSecretBytes = 32

        init(kid: String, algorithm: TokenAlgorithm, tenantID: String?, kinds: Set<PrincipalKind>?, material: KeyMaterial) throws(AuthError) {
            try Self.validate(kid: kid)
            if let tenantID, tenantID.isEmpty {
                throw .invalidKeySet("key \(kid): tenant must not be empty")
            }
            self.kid = kid
            self.algorithm = algorithm
            self.tenantID = tenantID
            self.kinds = kinds
            self.material = material
        }

        /// An HS256 key from a secret of at least ``minimumSecretBytes`` bytes.
        public static func hs256(kid: String, secret: some Sequence<UInt8>, tenantID: String? = nil, kinds: Set<PrincipalKind>? = nil) throws(AuthError) -> Key {
            let bytes = Array(secret)
            guard bytes.count >= minimumSecretBytes else {
                throw .invalidKeySet("key \(kid): an HS256 secret needs at least \(minimumSecretBytes) bytes")
            }
            return try Key(kid: kid, algorithm: .hs256, tenantID: tenantID, kinds: kinds, material: .hmac(SymmetricKey(data: bytes)))
        }

        /// An ES256 key from PEM text. Give the private key to sign; the public key alone
        /// verifies. When both are given they must belong together.
        public static func es256(kid: String, publicKeyPEM: String?, privateKeyPEM: String? = nil, tenantID: String? = nil, kinds: Set<PrincipalKind>? = nil) throws(AuthError) -> Key {
            var privateKey: P256.Signing.PrivateKey?
            if let privateKeyPEM {
                do {
                    privateKey = try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
                } catch {
                    throw .invalidKeySet("key \(kid): private_key_pem is not a P-256 private key in PEM")
                }
            }
            var publicKey: P256.Signing.PublicKey
            if let publicKeyPEM {
                do {
                    publicKey = try P256.Signing.PublicKey(pemRepresentation: publicKeyPEM)
                } catch {
                    throw .invalidKeySet("key \(kid): public_key_pem is not a P-256 public key in PEM")
                }
                if let privateKey, privateKey.publicKey.rawRepresentation != publicKey.rawRepresentation {
                    throw .invalidKeySet("key \(kid): public_key_pem does not belong to private_key_pem")
                }
            } else if let privateKey {
                publicKey = privateKey.publicKey
            } else {
                throw .invalidKeySet("key \(kid): an ES256 key needs public_key_pem or private_key_pem")
            }
            return try Key(kid: kid, algorithm: .es256, tenantID: tenantID, kinds: kinds, material: .es256(publicKey: publicKey, privateKey: privateKey))
        }

        /// A fresh random HS256 key (256-bit secret).
        public static func generateHS256(kid: String, tenantID: String? = nil, kinds: Set<PrincipalKind>? = nil) throws(AuthError) -> Key {
            try Key(kid: kid, algorithm: .hs256, tenantID: tenantID, kinds: kinds, material: .hmac(SymmetricKey(size: .bits256)))
        }

        /// A fresh random ES256 key pair.
        public static func generateES256(kid: String, tenantID: String? = nil, kinds: Set<PrincipalKind>? = nil) throws(AuthError) -> Key {
            let privateKey = P256.Signing.PrivateKey()
            return try Key(kid: kid, algorithm: .es256, tenantID: tenantID, kinds: kinds, material: .es256(publicKey: privateKey.publicKey, privateKey: privateKey))
        }

        /// Whether this key can sign: HS256 always, ES256 only with its private key.
        public var canSign: Bool {
            switch material {
            case .hmac: true
            case .es256(_, let privateKey): privateKey != nil
            }
        }

        /// This key without its private half, for handing to verifiers. HS256 keys are returned
        /// unchanged: their one secret is needed to verify.
        public func withoutPrivateKey() -> Key {
            switch material {
            case .hmac:
                return self
            case .es256(let publicKey, _):
                return Key(unchecked: self, material: .es256(publicKey: publicKey, privateKey: nil))
            }
        }

        private init(unchecked key: Key, material: KeyMaterial) {
            self.kid = key.kid
            self.algorithm = key.algorithm
            self.tenantID = key.tenantID
            self.kinds = key.kinds
            self.material = material
        }

        /// Whether this key may vouch for a token of `tenantID` and `kind`.
        func permits(tenantID: String, kind: PrincipalKind) -> Bool {
            if let boundTenant = self.tenantID, boundTenant != tenantID { return false }
            if let kinds, !kinds.contains(kind) { return false }
            return true
        }

        /// Kids are printable identifiers, short enough for headers and logs.
        private static func validate(kid: String) throws(AuthError) {
            let allowed = kid.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":")
            }
            guard !kid.isEmpty, kid.utf8.count <= 128, allowed else {
                throw .invalidKeySet("a kid must be 1 to 128 characters of A-Z a-z 0-9 - _ . :")
            }
        }

        // MARK: Codable

        enum CodingKeys: String, CodingKey {
            case kid, alg, secret, tenant, kinds
            case publicKeyPEM = "public_key_pem"
            case privateKeyPEM = "private_key_pem"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let kid = try container.decode(String.self, forKey: .kid)
            let algorithmName = try container.decode(String.self, forKey: .alg)
            guard let algorithm = TokenAlgorithm(rawValue: algorithmName) else {
                throw AuthError.invalidKeySet("key \(kid): alg must be one of \(TokenAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let tenantID = try container.decodeIfPresent(String.self, forKey: .tenant)
            let kinds = try container.decodeIfPresent([PrincipalKind].self, forKey: .kinds).map(Set.init)
            let secret = try container.decodeIfPresent(String.self, forKey: .secret)
            let publicKeyPEM = try container.decodeIfPresent(String.self, forKey: .publicKeyPEM)
            let privateKeyPEM = try container.decodeIfPresent(String.self, forKey: .privateKeyPEM)
            switch algorithm {
            case .hs256:
                guard publicKeyPEM == nil, privateKeyPEM == nil else {
                    throw AuthError.invalidKeySet("key \(kid): an HS256 key takes a secret, not PEM keys")
                }
                guard let secret else {
                    throw AuthError.invalidKeySet("key \(kid): an HS256 key needs a secret")
                }
                guard let bytes = decodeLenientBase64(secret) else {
                    throw AuthError.invalidKeySet("key \(kid): secret is not base64")
                }
                self = try .hs256(kid: kid, secret: bytes, tenantID: tenantID, kinds: kinds)
            case .es256:
                guard secret == nil else {
                    throw AuthError.invalidKeySet("key \(kid): an ES256 key takes PEM keys, not a secret")
                }
                self = try .es256(kid: kid, publicKeyPEM: publicKeyPEM, privateKeyPEM: privateKeyPEM, tenantID: tenantID, kinds: kinds)
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(kid, forKey: .kid)
            try container.encode(algorithm.rawValue, forKey: .alg)
            switch material {
            case .hmac(let key):
                let secret = key.withUnsafeBytes { Data($0) }
                try container.encode(secret.base64EncodedString(), forKey: .secret)
            case .es256(let publicKey, let privateKey):
                try container.encode(publicKey.pemRepresentation, forKey: .publicKeyPEM)
                try container.encodeIfPresent(privateKey?.pemRepresentation, forKey: .privateKeyPEM)
            }
            try container.encodeIfPresent(tenantID, forKey: .tenant)
            try container.encodeIfPresent(kinds?.map(\.rawValue).sorted(), forKey: .kinds)
        }

        // MARK: Never print key material

        public var description: String {
            var text = "Key(kid: \(kid), alg: \(algorithm.rawValue)"
            if let tenantID { text += ", tenant: \(tenantID)" }
            if let kinds { text += ", kinds: \(kinds.map(\.rawValue).sorted())" }
            return text + (canSign ? ", can sign)" : ", verify only)")
        }

        public var debugDescription: String { description }

        public var customMirror: Mirror {
            Mirror(self, children: ["kid": kid, "algorithm": algorithm, "tenantID": tenantID as Any, "kinds": kinds as Any, "canSign": canSign])
        }
    }

    /// All configured keys; kids are unique.
    public let keys: [Key]
    /// When set, tokens must carry exactly this `iss`, and issued tokens carry it.
    public let issuer: String?
    /// When set, tokens' `aud` must contain this value, and issued tokens carry it.
    public let audience: String?
    /// The key a ``TokenIssuer`` signs with unless told otherwise.
    public let signingKID: String?

    /// Validates the set: at least one key, unique kids, and a `signingKID` that names a key
    /// able to sign.
    public init(keys: [Key], issuer: String? = nil, audience: String? = nil, signingKID: String? = nil) throws(AuthError) {
        guard !keys.isEmpty else {
            throw .invalidKeySet("a key set needs at least one key")
        }
        var seen = Set<String>()
        for key in keys where !seen.insert(key.kid).inserted {
            throw .invalidKeySet("kid \(key.kid) appears more than once")
        }
        if let issuer, issuer.isEmpty { throw .invalidKeySet("issuer must not be empty") }
        if let audience, audience.isEmpty { throw .invalidKeySet("audience must not be empty") }
        if let signingKID {
            guard let key = keys.first(where: { $0.kid == signingKID }) else {
                throw .invalidKeySet("signing_kid \(signingKID) names no key of the set")
            }
            guard key.canSign else {
                throw .invalidKeySet("signing_kid \(signingKID) names a key without its private key")
            }
        }
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.signingKID = signingKID
    }

    /// Loads the JSON form. Errors name the offending field but never quote the input.
    public init(json: some StringProtocol) throws(AuthError) {
        try self.init(jsonData: Data(json.utf8))
    }

    /// Loads the JSON form from bytes, for instance a file's contents.
    public init(jsonData: Data) throws(AuthError) {
        do {
            self = try JSONDecoder().decode(AuthKeySet.self, from: jsonData)
        } catch let error as AuthError {
            throw error
        } catch let error as DecodingError {
            throw .invalidKeySet(Self.describe(error))
        } catch {
            throw .invalidKeySet("the key set is not valid JSON")
        }
    }

    /// The JSON form, private keys included where present. Treat the result as a secret.
    public func jsonString(prettyPrinted: Bool = false) throws(AuthError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = prettyPrinted ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(self), as: UTF8.self)
        } catch {
            throw .invalidKeySet("the key set could not be encoded")
        }
    }

    /// The key named `kid`, if configured.
    public func key(kid: String) -> Key? {
        keys.first { $0.kid == kid }
    }

    /// This set plus `key`, for the first step of a rotation.
    public func adding(_ key: Key, makeSigningKey: Bool = false) throws(AuthError) -> AuthKeySet {
        try AuthKeySet(keys: keys + [key], issuer: issuer, audience: audience, signingKID: makeSigningKey ? key.kid : signingKID)
    }

    /// This set without the key `kid`, for the last step of a rotation. Removing the signing
    /// key leaves the set without one.
    public func removing(kid: String) throws(AuthError) -> AuthKeySet {
        try AuthKeySet(keys: keys.filter { $0.kid != kid }, issuer: issuer, audience: audience, signingKID: signingKID == kid ? nil : signingKID)
    }

    /// The set to hand to services that only verify: ES256 private keys removed.
    public func withoutPrivateKeys() -> AuthKeySet {
        AuthKeySet(unchecked: keys.map { $0.withoutPrivateKey() }, issuer: issuer, audience: audience, signingKID: nil)
    }

    /// A fresh development set: one HS256 secret and one ES256 key pair (the signing key),
    /// issuer and audience "switchboard". Serialize it with ``jsonString(prettyPrinted:)``.
    public static func generateDevelopment(issuer: String = "switchboard", audience: String = "switchboard") throws(AuthError) -> AuthKeySet {
        let suffix = randomString(length: 8, alphabet: lowercaseAlphanumerics)
        let hmacKey = try Key.generateHS256(kid: "dev-hs256-\(suffix)")
        let ecdsaKey = try Key.generateES256(kid: "dev-es256-\(suffix)")
        return try AuthKeySet(keys: [hmacKey, ecdsaKey], issuer: issuer, audience: audience, signingKID: ecdsaKey.kid)
    }

    private init(unchecked keys: [Key], issuer: String?, audience: String?, signingKID: String?) {
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.signingKID = signingKID
    }

    // MARK: Codable

    enum CodingKeys: String, CodingKey {
        case keys, issuer, audience
        case signingKID = "signing_kid"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            keys: try container.decode([Key].self, forKey: .keys),
            issuer: try container.decodeIfPresent(String.self, forKey: .issuer),
            audience: try container.decodeIfPresent(String.self, forKey: .audience),
            signingKID: try container.decodeIfPresent(String.self, forKey: .signingKID)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(keys, forKey: .keys)
        try container.encodeIfPresent(issuer, forKey: .issuer)
        try container.encodeIfPresent(audience, forKey: .audience)
        try container.encodeIfPresent(signingKID, forKey: .signingKID)
    }

    public var description: String {
        "AuthKeySet(keys: \(keys.map(\.description)), issuer: \(issuer ?? "-"), audience: \(audience ?? "-"), signing_kid: \(signingKID ?? "-"))"
    }

    /// Names where decoding failed from the coding path only: the decoder's own messages can
    /// quote input, and the input here holds secrets.
    private static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let text = codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "the top level" : String(text.dropFirst(text.hasPrefix(".") ? 1 : 0))
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context.codingPath)) has the wrong type"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "the key set is not valid JSON" : "\(path(context.codingPath)) has an invalid value"
        @unknown default:
            return "the key set could not be decoded"
        }
    }
}
