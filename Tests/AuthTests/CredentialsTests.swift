import Auth
import Testing

@Suite("Credentials from headers")
struct CredentialsTests {
    @Test("bearer tokens are read from well-formed Authorization values", arguments: [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER   abc  ", "abc"),
        ("  Bearer abc", "abc"),
        ("Bearer dGVzdA==", "dGVzdA=="),
        ("Bearer sb_abcdefghij12_XYZ", "sb_abcdefghij12_XYZ"),
    ])
    func bearerAccepted(header: String, token: String) {
        #expect(bearerToken(fromAuthorizationHeader: header) == token)
    }

    @Test("anything else is not a bearer token", arguments: [
        "", "Bearer", "Bearer ", "Bearerabc", "Basic dXNlcjpwYXNz", "Bearer a b", "Bearer ===", "Bearer a=b", "Token abc", "Bearer\tabc", "Bearer abc,def",
    ])
    func bearerRefused(header: String) {
        #expect(bearerToken(fromAuthorizationHeader: header) == nil)
    }

    @Test("credentials are told apart by header and prefix")
    func parse() throws {
        #expect(try Credentials.parse(authorization: "Bearer eyJ.eyJ.sig", apiKey: nil) == .bearer("eyJ.eyJ.sig"))
        #expect(try Credentials.parse(authorization: "Bearer sb_abcdefghij12_secret", apiKey: nil) == .apiKey("sb_abcdefghij12_secret"))
        #expect(try Credentials.parse(authorization: nil, apiKey: " sb_abcdefghij12_secret ") == .apiKey("sb_abcdefghij12_secret"))
        #expect(try Credentials.parse(authorization: nil, apiKey: nil) == nil)
        #expect(try Credentials.parse(authorization: "  ", apiKey: "") == nil)
    }

    @Test("unusable or ambiguous headers are refused as malformed")
    func parseRefused() {
        #expect(authError { try Credentials.parse(authorization: "Basic dXNlcjpwYXNz", apiKey: nil) }?.code == .malformed)
        #expect(authError { try Credentials.parse(authorization: "Bearer eyJ.eyJ.sig", apiKey: "sb_abcdefghij12_secret") }?.code == .malformed)
    }

    @Test("printing credentials hides the secret part")
    func redacted() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"
        #expect(!String(describing: Credentials.bearer(jwt)).contains("eyJ"))
        #expect(!String(reflecting: Credentials.bearer(jwt)).contains("eyJ"))
        let (plaintext, record) = APIKey.generate(tenantID: "t", scopes: [])
        let secret = APIKey.parse(plaintext)?.secret ?? plaintext
        let printed = String(describing: Credentials.apiKey(plaintext))
        #expect(printed.contains(record.keyID))
        #expect(!printed.contains(secret))
        #expect(String(describing: Credentials.apiKey("sb_garbage")) == "apiKey(<redacted>)")
    }
}
