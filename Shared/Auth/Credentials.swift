/// The token in an `Authorization: Bearer <token>` header value, or `nil` if the value is not
/// that. The scheme is matched case-insensitively (RFC 9110 §11.1); the token must be one
/// RFC 6750 `b64token` (`A-Z a-z 0-9 - . _ ~ + /`, then `=` padding), which JWTs and API keys are.
public func bearerToken(fromAuthorizationHeader header: some StringProtocol) -> String? {
    let value = header.trimmingASCIIWhitespace()
    let scheme = "bearer"
    guard value.utf8.count > scheme.utf8.count, value.prefix(scheme.count).lowercased() == scheme else { return nil }
    let afterScheme = value.dropFirst(scheme.count)
    guard let first = afterScheme.first, first == " " else { return nil }
    let token = afterScheme.trimmingASCIIWhitespace()
    guard !token.isEmpty, isB64Token(token) else { return nil }
    return String(token)
}

/// What a request presented to prove who it is.
///
/// Printing a value never shows the secret part: a log line that includes credentials by
/// accident does not leak them.
public enum Credentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// A JWT from `Authorization: Bearer <jwt>`.
    case bearer(String)
    /// An API key from `X-API-Key: sb_…` or `Authorization: Bearer sb_…`.
    case apiKey(String)

    /// The header API keys may be sent in instead of `Authorization`.
    public static let apiKeyHeaderName = "X-API-Key"

    /// Reads credentials from the `Authorization` and `X-API-Key` header values.
    ///
    /// - Returns: `nil` when neither header is present (or both are blank), so the caller can
    ///   answer 401 with a challenge.
    /// - Throws: ``AuthError/Code/malformed`` when `Authorization` is not a bearer token, or
    ///   when both headers are sent: which one should win is ambiguous, so neither does.
    public static func parse(authorization: String?, apiKey: String?) throws(AuthError) -> Credentials? {
        let authorization = authorization.map { String($0.trimmingASCIIWhitespace()) }.flatMap { $0.isEmpty ? nil : $0 }
        let apiKey = apiKey.map { String($0.trimmingASCIIWhitespace()) }.flatMap { $0.isEmpty ? nil : $0 }
        switch (authorization, apiKey) {
        case (nil, nil):
            return nil
        case (.some, .some):
            throw .malformed("send either Authorization or \(apiKeyHeaderName), not both")
        case (nil, .some(let key)):
            return .apiKey(key)
        case (.some(let header), nil):
            guard let token = bearerToken(fromAuthorizationHeader: header) else {
                throw .malformed("the Authorization header is not 'Bearer <token>'")
            }
            return APIKey.looksLikeAPIKey(token) ? .apiKey(token) : .bearer(token)
        }
    }

    public var description: String {
        switch self {
        case .bearer:
            return "bearer(<redacted>)"
        case .apiKey(let key):
            // The key id is not secret and helps find the key; the rest is.
            if let (keyID, _) = APIKey.parse(key) {
                return "apiKey(\(APIKey.prefix)\(keyID)_<redacted>)"
            }
            return "apiKey(<redacted>)"
        }
    }

    public var debugDescription: String { description }
}

private func isB64Token(_ token: some StringProtocol) -> Bool {
    var seenPadding = false
    for byte in token.utf8 {
        switch byte {
        case UInt8(ascii: "="):
            seenPadding = true
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"):
            if seenPadding { return false }
        default:
            return false
        }
    }
    return !token.utf8.allSatisfy { $0 == UInt8(ascii: "=") }
}

extension StringProtocol {
    /// Drops leading and trailing spaces and tabs (HTTP's optional whitespace).
    func trimmingASCIIWhitespace() -> SubSequence {
        let isWhitespace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isWhitespace($0) }), let last = lastIndex(where: { !isWhitespace($0) }) else {
            return self[endIndex...]
        }
        return self[start...last]
    }
}
