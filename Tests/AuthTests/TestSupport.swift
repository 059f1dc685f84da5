import Testing
import Auth
import Crypto
import Foundation

/// A fixed instant all token tests measure from, so expiry is exact and no test sleeps.
let epoch = Date(timeIntervalSince1970: 1_750_000_000)

/// Secrets for HS256 test keys: fixed so hand-built tokens can be signed with them.
let secretOne = [UInt8](repeating: 0x11, count: 32)
let secretTwo = [UInt8](repeating: 0x22, count: 32)
let secretUnknown = [UInt8](repeating: 0x99, count: 32)

/// A clock frozen at `epoch + offset` seconds.
func clock(_ offset: TimeInterval = 0) -> @Sendable () -> Date {
    { epoch.addingTimeInterval(offset) }
}

/// The `AuthError` a throwing call produced, or `nil` if it succeeded (or threw anything
/// else, which then fails the test's comparison). Untyped because `#expect` rewrites the
/// closure in a way that loses its typed `throws(AuthError)`.
func authError<T>(_ body: () throws -> T) -> AuthError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error as? AuthError
    }
}

func base64URL(_ bytes: some Sequence<UInt8>) -> String {
    Data(bytes).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

func base64URL(_ text: String) -> String {
    base64URL(Array(text.utf8))
}

/// A token built by hand from raw JSON, HS256-signed with `secret`, or with an empty
/// signature when `secret` is nil: for what ``TokenIssuer`` would never produce.
func handBuiltToken(header: String, payload: String, secret: [UInt8]?) -> String {
    let signingInput = base64URL(header) + "." + base64URL(payload)
    guard let secret else { return signingInput + "." }
    let mac = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: secret))
    return signingInput + "." + base64URL(Array(mac))
}

/// A valid payload for `epoch`, one hour long, with issuer and audience "switchboard".
func payloadJSON(
    tid: String? = "tenant-a",
    sub: String = "user-1",
    kind: String = "user",
    scope: String = "conversations:read",
    cid: String? = nil,
    exp: Int = 1_750_003_600,
    extra: String = ""
) -> String {
    var fields = [#""sub":"\#(sub)""#, #""kind":"\#(kind)""#, #""scope":"\#(scope)""#, #""exp":\#(exp)"#, #""iat":1750000000"#,
        #""iss":"switchboard""#, #""aud":"switchboard""#]
    if let tid { fields.append(#""tid":"\#(tid)""#) }
    if let cid { fields.append(#""cid":"\#(cid)""#) }
    if !extra.isEmpty { fields.append(extra) }
    return "{" + fields.joined(separator: ",") + "}"
}

/// A key set with two HS256 keys, k1 signing, issuer and audience "switchboard".
func twoHMACKeys() throws -> AuthKeySet {
    try AuthKeySet(
        keys: [.hs256(kid: "k1", secret: secretOne), .hs256(kid: "k2", secret: secretTwo)],
        issuer: "switchboard",
        audience: "switchboard",
        signingKID: "k1"
    )
}

let alice = Principal(tenantID: "tenant-a", subject: "user-1", kind: .user, scopes: [.conversationsRead, .hilAgent])

/// The decoded JSON of one part of a compact token.
func decodedPart(_ token: String, _ index: Int) throws -> [String: Any] {
    let part = String(token.split(separator: ".", omittingEmptySubsequences: false)[index])
    var base64 = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.count % 4 != 0 { base64 += "=" }
    let data = try #require(Data(base64Encoded: base64))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

