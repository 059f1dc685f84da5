import Auth
import Foundation
import Testing

@Suite("Key sets: loading, generating, serializing")
struct KeySetTests {
    @Test("the documented JSON form loads, and its keys sign and verify")
    func loadsJSON() throws {
        let pair = try AuthKeySet(keys: [.generateES256(kid: "x")])
        let pems = try #require(try JSONSerialization.jsonObject(with: Data(pair.jsonString().utf8)) as? [String: Any])
        let ecKey = try #require((pems["keys"] as? [[String: Any]])?.first)
        let publicPEM = try #require(ecKey["public_key_pem"] as? String)
        let privatePEM = try #require(ecKey["private_key_pem"] as? String)
        let publicJSON = try jsonString(publicPEM)
        let privateJSON = try jsonString(privatePEM)
        let json = """
            {"keys":[{"kid":"k1","alg":"HS256","secret":"\(Data(secretOne).base64EncodedString())"},
                     {"kid":"k2","alg":"ES256","public_key_pem":\(publicJSON),"private_key_pem":\(privateJSON)}],
             "issuer":"switchboard","audience":"switchboard","signing_kid":"k2"}
            """
        let keys = try AuthKeySet(json: json)
        #expect(keys.keys.map(\.kid) == ["k1", "k2"])
        #expect(keys.keys.map(\.algorithm) == [.hs256, .es256])
        #expect(keys.issuer == "switchboard")
        #expect(keys.audience == "switchboard")
        #expect(keys.signingKID == "k2")

        let token = try TokenIssuer(keySet: keys, now: clock()).issue(for: alice, ttl: .seconds(60))
        #expect(try decodedPart(token, 0)["kid"] as? String == "k2")
        #expect(try TokenVerifier(keySet: keys, now: clock()).verify(token).subject == "user-1")
        // The HS256 key from the same JSON verifies the hand-signed tokens of its secret.
        let hmacToken = handBuiltToken(header: #"{"alg":"HS256","kid":"k1"}"#, payload: payloadJSON(), secret: secretOne)
        #expect(try TokenVerifier(keySet: keys, now: clock()).verify(hmacToken).tenantID == "tenant-a")
    }

    @Test("a public-key-only set verifies but cannot sign")
    func verificationOnly() throws {
        let full = try AuthKeySet.generateDevelopment()
        let token = try TokenIssuer(keySet: full, now: clock()).issue(for: alice, ttl: .seconds(60))
        let json = try full.withoutPrivateKeys().jsonString()
        #expect(!json.contains("PRIVATE KEY"))
        let publicOnly = try AuthKeySet(json: json)
        #expect(try TokenVerifier(keySet: publicOnly, now: clock()).verify(token).subject == "user-1")
        let esKID = try #require(full.signingKID)
        #expect(authError { try TokenIssuer(keySet: publicOnly, signingKID: esKID) }?.code == .cannotSign)
        // A set naming a verify-only key as its signing key is refused outright.
        let esPublic = try #require(publicOnly.key(kid: esKID))
        #expect(authError { try AuthKeySet(keys: [esPublic], signingKID: esKID) }?.code == .invalidKeySet)
    }

    @Test("a generated development set has an HS256 and an ES256 key and survives serialization")
    func developmentSet() throws {
        let generated = try AuthKeySet.generateDevelopment()
        #expect(Set(generated.keys.map(\.algorithm)) == [.hs256, .es256])
        #expect(generated.keys.allSatisfy { $0.canSign })
        #expect(generated.key(kid: generated.signingKID ?? "")?.algorithm == .es256)
        #expect(generated.issuer == "switchboard" && generated.audience == "switchboard")

        let reloaded = try AuthKeySet(json: generated.jsonString(prettyPrinted: true))
        #expect(reloaded.keys.map(\.kid) == generated.keys.map(\.kid))
        #expect(try reloaded.jsonString() == generated.jsonString())
        for key in generated.keys {
            let token = try TokenIssuer(keySet: generated, signingKID: key.kid, now: clock()).issue(for: alice, ttl: .seconds(60))
            #expect(try TokenVerifier(keySet: reloaded, now: clock()).verify(token).subject == "user-1")
        }
        // Two generations share no key material.
        let other = try AuthKeySet.generateDevelopment()
        let token = try TokenIssuer(keySet: generated, now: clock()).issue(for: alice, ttl: .seconds(60))
        #expect(authError { try TokenVerifier(keySet: other, now: clock()).verify(token) } != nil)
    }

    @Test("invalid configurations are refused without quoting secrets", arguments: [
        #"{"keys":[{"kid":"k1","alg":"HS256","secret":"c2hvcnQtc2VjcmV0LXZhbHVl"}]}"#,  // 18 bytes
        #"{"keys":[{"kid":"k1","alg":"none","secret":"c2hvcnQtc2VjcmV0LXZhbHVl"}]}"#,
        #"{"keys":[{"kid":"k1","alg":"HS256"}]}"#,
        #"{"keys":[{"kid":"k1","alg":"HS256","secret":"%%%c2hvcnQtc2VjcmV0LXZhbHVl"}]}"#,
        #"{"keys":[{"kid":"k1","alg":"ES256","public_key_pem":"-----BEGIN PUBLIC KEY-----\nc2hvcnQtc2VjcmV0LXZhbHVl\n-----END PUBLIC KEY-----"}]}"#,
        #"{"keys":[{"kid":"k1","alg":"ES256"}]}"#,
        #"{"keys":[]}"#,
        #"{"issuer":"switchboard"}"#,
        #"{"keys":[{"kid":"","alg":"HS256","secret":"ERERERERERERERERERERERERERERERERERERERERERE="}]}"#,
        #"{"keys":[{"kid":"k1","alg":"HS256","secret":"ERERERERERERERERERERERERERERERERERERERERERE="},{"kid":"k1","alg":"HS256","secret":"ERERERERERERERERERERERERERERERERERERERERERE="}]}"#,
        #"{"keys":[{"kid":"k1","alg":"HS256","secret":"ERERERERERERERERERERERERERERERERERERERERERE="}],"signing_kid":"k9"}"#,
        #"{"keys":[{"kid":"k1","alg":"HS256","secret":"ERERERERERERERERERERERERERERERERERERERERERE=","kinds":["robot"]}]}"#,
        #"{"keys":"c2hvcnQtc2VjcmV0LXZhbHVl"}"#,
        #"not json c2hvcnQtc2VjcmV0LXZhbHVl"#,
    ])
    func invalidConfigurations(json: String) {
        let error = authError { try AuthKeySet(json: json) }
        #expect(error?.code == .invalidKeySet)
        #expect(error?.isServerError == true)
        let text = String(describing: error)
        #expect(!text.contains("c2hvcnQtc2VjcmV0LXZhbHVl"))
        #expect(!text.contains("ERERERERERERERERER"))
    }

    @Test("a public key that does not belong to the private key is refused")
    func mismatchedPair() throws {
        let one = try AuthKeySet(keys: [.generateES256(kid: "a")]).jsonString()
        let two = try AuthKeySet(keys: [.generateES256(kid: "a")]).jsonString()
        func pem(_ json: String, _ field: String) throws -> String {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            return try #require(((object["keys"] as? [[String: Any]])?.first?[field]) as? String)
        }
        let error = authError { try AuthKeySet.Key.es256(kid: "a", publicKeyPEM: try pem(one, "public_key_pem"), privateKeyPEM: try pem(two, "private_key_pem")) }
        #expect(error?.code == .invalidKeySet)
        // The private key alone is enough: the public half is derived.
        let derived = try AuthKeySet.Key.es256(kid: "a", publicKeyPEM: nil, privateKeyPEM: try pem(two, "private_key_pem"))
        #expect(derived.canSign)
    }

    @Test("printing a key set never shows key material")
    func descriptionsRedact() throws {
        let keys = try AuthKeySet(keys: [.hs256(kid: "k1", secret: secretOne), .generateES256(kid: "k2")], signingKID: "k2")
        let secretBase64 = Data(secretOne).base64EncodedString()
        var dumped = ""
        dump(keys, to: &dumped)
        for text in [String(describing: keys), String(reflecting: keys), String(describing: keys.keys), dumped] {
            #expect(text.contains("k1") && text.contains("k2"))
            #expect(!text.contains(secretBase64))
            #expect(!text.contains("BEGIN"))
            #expect(!text.contains("17, 17, 17"))
        }
    }

    private func jsonString(_ text: String) throws -> String {
        String(decoding: try JSONEncoder().encode(text), as: UTF8.self)
    }
}
