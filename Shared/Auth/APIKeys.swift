import Crypto
import Foundation

/// API keys for server-to-server clients: `sb_<keyid>_<secret>`.
///
/// The key id (12 characters of `a-z0-9`) is not secret: it names the stored
/// ``APIKeyRecord`` and appears in logs and rate-limit keys. The secret (43 characters of
/// `A-Za-z0-9`, about 256 random bits) is shown once at creation and never stored; only a
/// salted hash of it is.
public enum APIKey {
    public static let prefix = "sb_"
    public static let keyIDLength = 12
    /// Length of generated secrets: 43 characters of a 62-letter alphabet carry 256 bits.
    public static let generatedSecretLength = 43
    /// Accepted secret lengths when parsing, so a longer format can be introduced later.
    public static let secretLengths = 32...128

    /// A new key for `tenantID`. Show `plaintext` to the client once; store only `record`.
    public static func generate(tenantID: String, scopes: Set<Scope>, now: Date = Date()) -> (plaintext: String, record: APIKeyRecord) {
        let keyID = randomString(length: keyIDLength, alphabet: lowercaseAlphanumerics)
        let secret = randomString(length: generatedSecretLength, alphabet: alphanumerics)
        let salt = randomBytes(count: APIKeyRecord.saltBytes)
        let record = APIKeyRecord(
            keyID: keyID,
            tenantID: tenantID,
            scopes: scopes,
            salt: hex(salt),
            hash: hex(APIKeyRecord.digest(secret: secret, salt: salt)),
            createdAt: now
        )
        return (prefix + keyID + "_" + secret, record)
    }

    /// Splits a presented key into its id and secret; `nil` unless it has exactly the shape
    /// `sb_` + 12 × `a-z0-9` + `_` + 32–128 × `A-Za-z0-9-_`.
    public static func parse(_ presented: some StringProtocol) -> (keyID: String, secret: String)? {
        let bytes = Array(presented.utf8)
        let secretStart = prefix.utf8.count + keyIDLength + 1
        guard bytes.count >= secretStart + secretLengths.lowerBound,
            bytes.count <= secretStart + secretLengths.upperBound,
            bytes.starts(with: prefix.utf8),
            bytes[secretStart - 1] == UInt8(ascii: "_")
        else { return nil }
        let keyID = bytes[prefix.utf8.count..<(secretStart - 1)]
        let secret = bytes[secretStart...]
        guard keyID.allSatisfy(isLowercaseAlphanumeric), secret.allSatisfy(isURLSafe) else { return nil }
        return (String(decoding: keyID, as: UTF8.self), String(decoding: secret, as: UTF8.self))
    }

    /// Whether a credential is meant as an API key (rather than a JWT), judged by its prefix
    /// alone, so a malformed key is reported as a bad API key and not as a bad token.
    public static func looksLikeAPIKey(_ credential: some StringProtocol) -> Bool {
        credential.hasPrefix(prefix)
    }

    private static func isLowercaseAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private static func isURLSafe(_ byte: UInt8) -> Bool {
        isLowercaseAlphanumeric(byte) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }
}

/// What the services store for an API key: never the secret, only HMAC-SHA256 of it keyed
/// with a random per-record salt.
///
/// Why a salt and no slow hash or server pepper: the secret is 256 random bits, so a leaked
/// table cannot be brute-forced or matched against precomputed tables; the salt keeps equal
/// secrets from having equal hashes, and the record stays self-contained, with no extra
/// server secret to distribute and rotate.
public struct APIKeyRecord: Codable, Sendable, Hashable {
    public let keyID: String
    public let tenantID: String
    public var scopes: Set<Scope>
    /// 16 random bytes, hex.
    public let salt: String
    /// HMAC-SHA256(key: salt, message: secret), hex.
    public let hash: String
    public let createdAt: Date
    /// Set once the key is revoked; a revoked key never authenticates again.
    public var revokedAt: Date?

    static let saltBytes = 16

    /// Rebuilds a record read from storage.
    public init(keyID: String, tenantID: String, scopes: Set<Scope>, salt: String, hash: String, createdAt: Date, revokedAt: Date? = nil) {
        self.keyID = keyID
        self.tenantID = tenantID
        self.scopes = scopes
        self.salt = salt
        self.hash = hash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    enum CodingKeys: String, CodingKey {
        case keyID = "key_id"
        case tenantID = "tenant_id"
        case scopes, salt, hash
        case createdAt = "created_at"
        case revokedAt = "revoked_at"
    }

    public var isRevoked: Bool { revokedAt != nil }

    /// Whether `secret` is this key's secret. Compares digests in constant time.
    public func verify(secret: some StringProtocol) -> Bool {
        guard let salt = unhex(salt), let storedDigest = unhex(hash) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(storedDigest, authenticating: Data(secret.utf8), using: SymmetricKey(data: salt))
    }

    /// Checks a full presented key (`sb_…`) against this record, the one stored under its key
    /// id, and returns the principal it stands for. The secret is checked before revocation,
    /// so only the key's holder learns that it was revoked.
    public func authenticate(_ presented: some StringProtocol) throws(AuthError) -> Principal {
        guard let (keyID, secret) = APIKey.parse(presented), keyID == self.keyID, verify(secret: secret) else {
            throw AuthError(.invalidAPIKey, reason: "the API key is not valid")
        }
        guard !isRevoked else {
            throw AuthError(.revokedAPIKey, reason: "the API key was revoked")
        }
        return principal
    }

    /// The principal this key stands for: kind `.apiKey`, subject the key id, no expiry.
    public var principal: Principal {
        Principal(tenantID: tenantID, subject: keyID, kind: .apiKey, scopes: scopes)
    }

    static func digest(secret: some StringProtocol, salt: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Data(secret.utf8), using: SymmetricKey(data: salt)))
    }
}

func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text = [UInt8]()
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: text, as: UTF8.self)
}

func unhex(_ text: String) -> [UInt8]? {
    let characters = Array(text.utf8)
    guard characters.count % 2 == 0 else { return nil }
    func value(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    var bytes = [UInt8]()
    bytes.reserveCapacity(characters.count / 2)
    var index = 0
    while index < characters.count {
        guard let high = value(characters[index]), let low = value(characters[index + 1]) else { return nil }
        bytes.append(high << 4 | low)
        index += 2
    }
    return bytes
}
