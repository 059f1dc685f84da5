import Auth
import Foundation
import Testing

@Suite("Tokens: issuing and verifying")
struct TokenTests {
    // MARK: Round trips

    @Test("HS256: an issued token verifies to the same principal")
    func hs256RoundTrip() throws {
        let keys = try twoHMACKeys()
        let token = try TokenIssuer(keySet: keys, now: clock()).issue(for: alice, ttl: .seconds(3600))
        #expect(try decodedPart(token, 0)["alg"] as? String == "HS256")
        #expect(try decodedPart(token, 0)["kid"] as? String == "k1")

        let principal = try TokenVerifier(keySet: keys, now: clock(60)).verify(token)
        #expect(principal.tenantID == "tenant-a")
        #expect(principal.subject == "user-1")
        #expect(principal.kind == .user)
        #expect(principal.scopes == [.conversationsRead, .hilAgent])
        #expect(principal.customerID == nil)
        #expect(principal.expiresAt == epoch.addingTimeInterval(3600))
    }

    @Test("ES256: an issued token verifies with the public key alone")
    func es256RoundTrip() throws {
        let keys = try AuthKeySet(keys: [.generateES256(kid: "ec1")], issuer: "switchboard", audience: "switchboard", signingKID: "ec1")
        let token = try TokenIssuer(keySet: keys, now: clock()).issue(for: alice, ttl: .seconds(600))
        #expect(try decodedPart(token, 0)["alg"] as? String == "ES256")

        let publicOnly = keys.withoutPrivateKeys()
        #expect(publicOnly.keys.allSatisfy { !$0.canSign })
        let principal = try TokenVerifier(keySet: publicOnly, now: clock(1)).verify(token)
        #expect(principal == Principal(tenantID: "tenant-a", subject: "user-1", kind: .user, scopes: alice.scopes, expiresAt: epoch.addingTimeInterval(600)))
    }

    @Test("claims carry sub, tid, scope, kind, exp, iat, iss and aud")
    func claimNames() throws {
        let token = try TokenIssuer(keySet: twoHMACKeys(), now: clock()).issue(for: alice, ttl: .seconds(60))
        let payload = try decodedPart(token, 1)
        #expect(payload["sub"] as? String == "user-1")
        #expect(payload["tid"] as? String == "tenant-a")
        #expect(payload["scope"] as? String == "conversations:read hil:agent")
        #expect(payload["kind"] as? String == "user")
        #expect(payload["exp"] as? Int == 1_750_000_060)
        #expect(payload["iat"] as? Int == 1_750_000_000)
        #expect(payload["iss"] as? String == "switchboard")
        #expect(payload["aud"] as? String == "switchboard")
        #expect(payload["cid"] == nil)
    }

    // MARK: Rotation

    @Test("rotation: the old kid verifies while configured and fails once removed")
    func rotation() throws {
        let before = try AuthKeySet(keys: [.hs256(kid: "old", secret: secretOne)], issuer: "switchboard", audience: "switchboard", signingKID: "old")
        let oldToken = try TokenIssuer(keySet: before, now: clock()).issue(for: alice, ttl: .seconds(3600))

        let during = try before.adding(.generateES256(kid: "new"), makeSigningKey: true)
        let newToken = try TokenIssuer(keySet: during, now: clock()).issue(for: alice, ttl: .seconds(3600))
        #expect(try decodedPart(newToken, 0)["kid"] as? String == "new")
        let duringVerifier = TokenVerifier(keySet: during, now: clock(10))
        #expect(try duringVerifier.verify(oldToken).subject == "user-1")
        #expect(try duringVerifier.verify(newToken).subject == "user-1")

        let after = try during.removing(kid: "old")
        let afterVerifier = TokenVerifier(keySet: after, now: clock(10))
        #expect(try afterVerifier.verify(newToken).subject == "user-1")
        #expect(authError { try afterVerifier.verify(oldToken) }?.code == .unknownKID)
    }

    // MARK: Time

    @Test("expiry: passes just inside the leeway, fails at and after it")
    func expiry() throws {
        let keys = try twoHMACKeys()
        let token = try TokenIssuer(keySet: keys, now: clock()).issue(for: alice, ttl: .seconds(60))
        #expect(try TokenVerifier(keySet: keys, now: clock(59)).verify(token).subject == "user-1")
        #expect(try TokenVerifier(keySet: keys, now: clock(60 + 29)).verify(token).subject == "user-1")
        #expect(try TokenVerifier(keySet: keys, now: clock(60 + 29.9)).verify(token).subject == "user-1")
        #expect(authError { try TokenVerifier(keySet: keys, now: clock(60 + 30)).verify(token) }?.code == .expired)
        #expect(authError { try TokenVerifier(keySet: keys, now: clock(3600)).verify(token) }?.code == .expired)
        // Without leeway the token is invalid from `exp` on (RFC 7519 §4.1.4).
        #expect(authError { try TokenVerifier(keySet: keys, leeway: .zero, now: clock(60)).verify(token) }?.code == .expired)
    }

    @Test("a token is refused before its nbf, beyond the leeway")
    func notBefore() throws {
        let token = handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: payloadJSON(extra: #""nbf":1750000100"#), secret: secretOne)
        let keys = try twoHMACKeys()
        #expect(authError { try TokenVerifier(keySet: keys, now: clock(69)).verify(token) }?.code == .notYetValid)
        #expect(try TokenVerifier(keySet: keys, now: clock(71)).verify(token).tenantID == "tenant-a")
    }

    // MARK: Signatures and headers

    @Test("a tampered payload fails the signature check")
    func tamperedPayload() throws {
        for keys in [try twoHMACKeys(), try AuthKeySet(keys: [.generateES256(kid: "k1")], issuer: "switchboard", audience: "switchboard", signingKID: "k1")] {
            let token = try TokenIssuer(keySet: keys, now: clock()).issue(for: alice, ttl: .seconds(60))
            let parts = token.split(separator: ".").map(String.init)
            let forgedPayload = base64URL(payloadJSON(tid: "tenant-b", scope: "admin"))
            let forged = parts[0] + "." + forgedPayload + "." + parts[2]
            #expect(authError { try TokenVerifier(keySet: keys, now: clock()).verify(forged) }?.code == .badSignature)

            // One changed character of the signature fails too.
            var signature = Array(parts[2])
            signature[5] = signature[5] == "A" ? "B" : "A"
            let flipped = parts[0] + "." + parts[1] + "." + String(signature)
            #expect(authError { try TokenVerifier(keySet: keys, now: clock()).verify(flipped) }?.code == .badSignature)
        }
    }

    @Test("alg none is refused, with or without a signature")
    func algNone() throws {
        let verifier = try TokenVerifier(keySet: twoHMACKeys(), now: clock())
        for alg in ["none", "None", "NONE"] {
            let unsigned = handBuiltToken(header: #"{"alg":"\#(alg)","kid":"k1","typ":"JWT"}"#, payload: payloadJSON(), secret: nil)
            #expect(authError { try verifier.verify(unsigned) }?.code == .unsupportedAlgorithm)
            // Even a valid HMAC does not rescue a token that says `none`.
            let signed = handBuiltToken(header: #"{"alg":"\#(alg)","kid":"k1"}"#, payload: payloadJSON(), secret: secretOne)
            #expect(authError { try verifier.verify(signed) }?.code == .unsupportedAlgorithm)
        }
        let noKid = handBuiltToken(header: #"{"alg":"none"}"#, payload: payloadJSON(), secret: nil)
        #expect(authError { try verifier.verify(noKid) }?.code == .unsupportedAlgorithm)
    }

    @Test("HS256 signed with an ES256 key's public PEM is refused (algorithm confusion)")
    func algorithmConfusion() throws {
        let key = try AuthKeySet.Key.generateES256(kid: "ec1")
        let keys = try AuthKeySet(keys: [key], issuer: "switchboard", audience: "switchboard")
        let json = try keys.withoutPrivateKeys().jsonString()
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let pem = try #require(((stored["keys"] as? [[String: Any]])?.first?["public_key_pem"]) as? String)
        let forged = handBuiltToken(header: #"{"alg":"HS256","kid":"ec1"}"#, payload: payloadJSON(), secret: Array(pem.utf8))
        #expect(authError { try TokenVerifier(keySet: keys, now: clock()).verify(forged) }?.code == .algorithmMismatch)
    }

    @Test("a token signed with a kid the verifier does not know is refused")
    func unknownKID() throws {
        let verifier = try TokenVerifier(keySet: twoHMACKeys(), now: clock())
        let stranger = handBuiltToken(header: #"{"alg":"HS256","kid":"k9"}"#, payload: payloadJSON(), secret: secretUnknown)
        #expect(authError { try verifier.verify(stranger) }?.code == .unknownKID)
        let noKid = handBuiltToken(header: #"{"alg":"HS256"}"#, payload: payloadJSON(), secret: secretOne)
        #expect(authError { try verifier.verify(noKid) }?.code == .unknownKID)
        // A known kid with the wrong secret is a bad signature, not an unknown key.
        let wrongSecret = handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: payloadJSON(), secret: secretTwo)
        #expect(authError { try verifier.verify(wrongSecret) }?.code == .badSignature)
        // Both configured keys verify their own tokens.
        let byK2 = handBuiltToken(header: #"{"alg":"HS256","kid":"k2"}"#, payload: payloadJSON(), secret: secretTwo)
        #expect(try verifier.verify(byK2).subject == "user-1")
    }

    @Test("critical header extensions are refused")
    func criticalHeader() throws {
        let token = handBuiltToken(header: #"{"alg":"HS256","kid":"k1","crit":["exp"]}"#, payload: payloadJSON(), secret: secretOne)
        let verifier = try TokenVerifier(keySet: twoHMACKeys(), now: clock())
        #expect(authError { try verifier.verify(token) }?.code == .malformed)
    }

    @Test("malformed tokens are refused as malformed", arguments: [
        "", "abc", "a.b", "a.b.c.d", "...", "!!.??.##", "eyJhbGciOiJIUzI1NiJ9.e30", String(repeating: "a", count: 9000),
    ])
    func malformed(token: String) throws {
        let verifier = try TokenVerifier(keySet: twoHMACKeys(), now: clock())
        #expect(authError { try verifier.verify(token) }?.code == .malformed)
    }

    @Test("a signed payload that is not a JSON object is malformed")
    func payloadNotObject() throws {
        let token = handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: "[1,2]", secret: secretOne)
        let verifier = try TokenVerifier(keySet: twoHMACKeys(), now: clock())
        #expect(authError { try verifier.verify(token) }?.code == .malformed)
    }

    // MARK: Claims

    @Test("issuer and audience must match when configured")
    func issuerAndAudience() throws {
        let keys = try twoHMACKeys()
        let verifier = TokenVerifier(keySet: keys, now: clock())
        let otherIssuer = try AuthKeySet(keys: keys.keys, issuer: "someone-else", audience: "switchboard", signingKID: "k1")
        let otherAudience = try AuthKeySet(keys: keys.keys, issuer: "switchboard", audience: "billing", signingKID: "k1")
        let neither = try AuthKeySet(keys: keys.keys, signingKID: "k1")

        let wrongIssuer = try TokenIssuer(keySet: otherIssuer, now: clock()).issue(for: alice, ttl: .seconds(60))
        #expect(authError { try verifier.verify(wrongIssuer) }?.code == .wrongIssuer)
        let wrongAudience = try TokenIssuer(keySet: otherAudience, now: clock()).issue(for: alice, ttl: .seconds(60))
        #expect(authError { try verifier.verify(wrongAudience) }?.code == .wrongAudience)
        let bare = try TokenIssuer(keySet: neither, now: clock()).issue(for: alice, ttl: .seconds(60))
        #expect(authError { try verifier.verify(bare) } == AuthError(.missingClaim, claim: "iss", reason: "the token has no usable 'iss' claim"))
        // A verifier configured without issuer and audience accepts any.
        #expect(try TokenVerifier(keySet: neither, now: clock()).verify(wrongIssuer).subject == "user-1")

        let audienceList = handBuiltToken(
            header: #"{"alg":"HS256","kid":"k1"}"#,
            payload: #"{"sub":"u","tid":"t","kind":"user","exp":1750003600,"iss":"switchboard","aud":["billing","switchboard"]}"#,
            secret: secretOne
        )
        #expect(try verifier.verify(audienceList).tenantID == "t")
    }

    @Test("a token without a tenant is refused", arguments: [payloadJSON(tid: nil), payloadJSON(tid: "")])
    func missingTenant(payload: String) throws {
        let token = handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: payload, secret: secretOne)
        let verifier = try TokenVerifier(keySet: twoHMACKeys(), now: clock())
        let error = authError { try verifier.verify(token) }
        #expect(error?.code == .missingClaim)
        #expect(error?.claim == "tid")
    }

    @Test("sub, kind and exp are required too")
    func otherRequiredClaims() throws {
        let verifier = try TokenVerifier(keySet: twoHMACKeys(), now: clock())
        let noExp = handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: #"{"sub":"u","tid":"t","kind":"user"}"#, secret: secretOne)
        #expect(authError { try verifier.verify(noExp) }?.claim == "exp")
        let noSub = handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: #"{"tid":"t","kind":"user","exp":1750003600}"#, secret: secretOne)
        #expect(authError { try verifier.verify(noSub) }?.claim == "sub")
        let badKind = handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: payloadJSON(kind: "robot"), secret: secretOne)
        #expect(authError { try verifier.verify(badKind) } == AuthError(.invalidClaim, claim: "kind", reason: "the 'kind' claim is not a known principal kind"))
        let stringExp = handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: #"{"sub":"u","tid":"t","kind":"user","exp":"soon"}"#, secret: secretOne)
        #expect(authError { try verifier.verify(stringExp) }?.code == .invalidClaim)
    }

    @Test("unknown scope strings in a token are ignored")
    func unknownScopesIgnored() throws {
        let token = handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: payloadJSON(scope: "hil:agent future:thing"), secret: secretOne)
        #expect(try TokenVerifier(keySet: twoHMACKeys(), now: clock()).verify(token).scopes == [.hilAgent])
    }

    @Test("tokens cannot claim the api_key kind")
    func apiKeyKindRefused() throws {
        let token = handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: payloadJSON(kind: "api_key"), secret: secretOne)
        let verifier = try TokenVerifier(keySet: twoHMACKeys(), now: clock())
        #expect(authError { try verifier.verify(token) }?.code == .invalidClaim)
        let apiPrincipal = Principal(tenantID: "t", subject: "k", kind: .apiKey, scopes: [.chatSend])
        #expect(authError { try TokenIssuer(keySet: twoHMACKeys(), now: clock()).issue(for: apiPrincipal, ttl: .seconds(60)) }?.code == .invalidClaim)
    }

    // MARK: Customer sessions

    @Test("a customer session token holds only chat:send, carries cid and lasts 15 minutes")
    func customerSession() throws {
        let keys = try twoHMACKeys()
        let token = try TokenIssuer(keySet: keys, now: clock()).issueCustomerSession(tenantID: "tenant-a", customerID: "cust-42")
        let payload = try decodedPart(token, 1)
        #expect(payload["cid"] as? String == "cust-42")
        #expect(payload["scope"] as? String == "chat:send")
        #expect(payload["kind"] as? String == "customer_session")

        let principal = try TokenVerifier(keySet: keys, now: clock(60)).verify(token)
        #expect(principal.kind == .customerSession)
        #expect(principal.scopes == [.chatSend])
        #expect(principal.customerID == "cust-42")
        #expect(principal.subject == "cust-42")
        #expect(principal.tenantID == "tenant-a")
        #expect(principal.expiresAt == epoch.addingTimeInterval(15 * 60))
        #expect(!principal.allows(.conversationsRead))
        #expect(authError { try TokenVerifier(keySet: keys, now: clock(15 * 60 + 30)).verify(token) }?.code == .expired)
    }

    @Test("customer sessions are narrowed to chat:send and need a cid")
    func customerSessionRules() throws {
        let verifier = try TokenVerifier(keySet: twoHMACKeys(), now: clock())
        let greedy = handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: payloadJSON(kind: "customer_session", scope: "chat:send admin", cid: "c1"), secret: secretOne)
        let principal = try verifier.verify(greedy)
        #expect(principal.scopes == [.chatSend])
        #expect(!principal.allows(.analyticsRead))

        let noCID = handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: payloadJSON(kind: "customer_session", scope: "chat:send"), secret: secretOne)
        #expect(authError { try verifier.verify(noCID) }?.claim == "cid")

        let issuer = try TokenIssuer(keySet: twoHMACKeys(), now: clock())
        let adminCustomer = Principal(tenantID: "t", subject: "c1", kind: .customerSession, scopes: [.admin], customerID: "c1")
        #expect(authError { try issuer.issue(for: adminCustomer, ttl: .seconds(60)) }?.code == .invalidClaim)
        #expect(authError { try issuer.issueCustomerSession(tenantID: "t", customerID: "") }?.claim == "cid")
    }

    @Test("a key bound to a tenant and kind vouches for nothing else")
    func tenantBoundKey() throws {
        let backendKey = try AuthKeySet.Key.hs256(kid: "acme-backend", secret: secretTwo, tenantID: "acme", kinds: [.customerSession])
        let keys = try AuthKeySet(keys: [.hs256(kid: "k1", secret: secretOne), backendKey], issuer: "switchboard", audience: "switchboard")
        let issuer = try TokenIssuer(keySet: keys, signingKID: "acme-backend", now: clock())
        let verifier = TokenVerifier(keySet: keys, now: clock())

        let good = try issuer.issueCustomerSession(tenantID: "acme", customerID: "c1")
        #expect(try verifier.verify(good).tenantID == "acme")
        #expect(authError { try issuer.issueCustomerSession(tenantID: "globex", customerID: "c1") }?.code == .keyNotPermitted)

        // What the backend could forge with its secret is still refused.
        let otherTenant = handBuiltToken(
            header: #"{"alg":"HS256","kid":"acme-backend"}"#, payload: payloadJSON(tid: "globex", kind: "customer_session", scope: "chat:send", cid: "c1"), secret: secretTwo)
        #expect(authError { try verifier.verify(otherTenant) }?.code == .keyNotPermitted)
        let staffToken = handBuiltToken(header: #"{"alg":"HS256","kid":"acme-backend"}"#, payload: payloadJSON(tid: "acme", kind: "user", scope: "admin"), secret: secretTwo)
        #expect(authError { try verifier.verify(staffToken) }?.code == .keyNotPermitted)
    }

    // MARK: Error hygiene

    @Test("error descriptions never contain the token or the secret")
    func errorsDoNotLeak() throws {
        let keys = try twoHMACKeys()
        let issued = try TokenIssuer(keySet: keys, now: clock()).issue(for: alice, ttl: .seconds(60))
        let parts = issued.split(separator: ".").map(String.init)
        let rejected = [
            issued,  // rejected below by an expired clock
            parts[0] + "." + base64URL(payloadJSON(tid: "tenant-b")) + "." + parts[2],
            handBuiltToken(header: #"{"alg":"none","kid":"k1"}"#, payload: payloadJSON(), secret: nil),
            handBuiltToken(header: #"{"alg":"HS256","kid":"secret-looking-kid-value"}"#, payload: payloadJSON(), secret: secretUnknown),
            handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: payloadJSON(tid: nil, sub: "user-with-a-distinctive-name"), secret: secretOne),
            handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: payloadJSON(kind: "distinctive-kind-value"), secret: secretOne),
            "not-a-token-but-a-distinctive-string",
        ]
        let verifier = TokenVerifier(keySet: keys, now: clock(3600))
        let secretText = base64URL(secretOne)
        for token in rejected {
            let error = try #require(authError { try verifier.verify(token) })
            for text in [String(describing: error), String(reflecting: error), error.reason] {
                #expect(!text.contains(token))
                for part in token.split(separator: ".") where part.count >= 8 {
                    #expect(!text.contains(part), "error text quotes part of the token: \(error.code.rawValue)")
                }
                #expect(!text.contains(secretText))
                #expect(!text.contains("distinctive"))
                #expect(!text.contains("secret-looking"))
            }
        }
    }
}
