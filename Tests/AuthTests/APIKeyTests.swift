import Auth
import Crypto
import Foundation
import Testing

@Suite("API keys")
struct APIKeyTests {
    @Test("a generated key has the documented shape and parses back to its record")
    func generateAndParse() throws {
        let (plaintext, record) = APIKey.generate(tenantID: "tenant-a", scopes: [.chatSend, .conversationsRead], now: epoch)
        #expect(plaintext.hasPrefix("sb_"))
        let parsed = try #require(APIKey.parse(plaintext))
        #expect(parsed.keyID == record.keyID)
        #expect(parsed.keyID.count == 12)
        #expect(parsed.keyID.allSatisfy { $0.isLowercase || $0.isNumber })
        #expect(parsed.secret.count >= 32)
        #expect(parsed.secret.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        #expect(plaintext == "sb_\(parsed.keyID)_\(parsed.secret)")
        #expect(record.tenantID == "tenant-a")
        #expect(record.scopes == [.chatSend, .conversationsRead])
        #expect(record.createdAt == epoch)
        #expect(record.revokedAt == nil)
    }

    @Test("the record stores a salted digest, never the secret")
    func storesDigest() throws {
        let (plaintext, record) = APIKey.generate(tenantID: "t", scopes: [])
        let secret = try #require(APIKey.parse(plaintext)).secret
        let stored = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
        #expect(!stored.contains(secret))
        #expect(record.hash.count == 64 && record.hash.allSatisfy(\.isHexDigit))
        #expect(record.salt.count == 32 && record.salt.allSatisfy(\.isHexDigit))
        let unsalted = SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
        #expect(record.hash != unsalted)
        // Independently computed: HMAC-SHA256 keyed by the salt.
        let saltBytes = try #require(hexBytes(record.salt))
        let expected = HMAC<SHA256>.authenticationCode(for: Data(secret.utf8), using: SymmetricKey(data: saltBytes)).map { String(format: "%02x", $0) }.joined()
        #expect(record.hash == expected)

        let other = APIKey.generate(tenantID: "t", scopes: []).record
        #expect(other.salt != record.salt)
        #expect(other.keyID != record.keyID)
    }

    @Test("verify accepts the secret and refuses any other")
    func verifySecret() throws {
        let (plaintext, record) = APIKey.generate(tenantID: "t", scopes: [.chatSend])
        let secret = try #require(APIKey.parse(plaintext)).secret
        #expect(record.verify(secret: secret))
        var wrong = Array(secret)
        wrong[0] = wrong[0] == "A" ? "B" : "A"
        #expect(!record.verify(secret: String(wrong)))
        #expect(!record.verify(secret: secret + "x"))
        #expect(!record.verify(secret: String(secret.dropLast())))
        #expect(!record.verify(secret: ""))
        // A damaged record verifies nothing.
        let damaged = APIKeyRecord(keyID: record.keyID, tenantID: "t", scopes: [], salt: "zz", hash: record.hash, createdAt: epoch)
        #expect(!damaged.verify(secret: secret))
    }

    @Test("authenticate returns the key's principal, refuses wrong and revoked keys")
    func authenticate() throws {
        let (plaintext, record) = APIKey.generate(tenantID: "tenant-a", scopes: [.analyticsRead])
        let principal = try record.authenticate(plaintext)
        #expect(principal == Principal(tenantID: "tenant-a", subject: record.keyID, kind: .apiKey, scopes: [.analyticsRead]))

        let (otherPlaintext, _) = APIKey.generate(tenantID: "tenant-a", scopes: [])
        #expect(authError { try record.authenticate(otherPlaintext) }?.code == .invalidAPIKey)
        let sameIDWrongSecret = "sb_\(record.keyID)_" + String(repeating: "a", count: 43)
        #expect(authError { try record.authenticate(sameIDWrongSecret) }?.code == .invalidAPIKey)
        #expect(authError { try record.authenticate("garbage") }?.code == .invalidAPIKey)

        var revoked = record
        revoked.revokedAt = epoch
        #expect(authError { try revoked.authenticate(plaintext) }?.code == .revokedAPIKey)
        // Without the secret, revocation is not revealed.
        #expect(authError { try revoked.authenticate(sameIDWrongSecret) }?.code == .invalidAPIKey)
        let error = try #require(authError { try revoked.authenticate(plaintext) })
        #expect(!String(describing: error).contains(plaintext))
    }

    @Test("malformed keys do not parse", arguments: [
        "",
        "sb_",
        "sb_abcdefghijkl_",
        "sb_abcdefghijkl_" + String(repeating: "a", count: 31),  // secret too short
        "sb_abcdefghijkl_" + String(repeating: "a", count: 129),  // secret too long
        "sb_abcdefghijk_" + String(repeating: "a", count: 40),  // key id 11 characters
        "sb_abcdefghijklm_" + String(repeating: "a", count: 40),  // key id 13 characters
        "sb_ABCDEFGHIJKL_" + String(repeating: "a", count: 40),  // upper-case key id
        "sb_abcdefghijkl-" + String(repeating: "a", count: 40),  // wrong separator
        "sk_abcdefghijkl_" + String(repeating: "a", count: 40),  // wrong prefix
        "SB_abcdefghijkl_" + String(repeating: "a", count: 40),
        "sb_abcdefghijkl_" + String(repeating: "a", count: 39) + "!",
        "sb_abcdefghijkl_" + String(repeating: "a", count: 39) + " ",
        " sb_abcdefghijkl_" + String(repeating: "a", count: 40),
        "sb_abcdéfghijkl_" + String(repeating: "a", count: 40),
    ])
    func malformed(presented: String) {
        #expect(APIKey.parse(presented) == nil)
    }

    @Test("secrets of 32 to 128 url-safe characters parse")
    func boundaries() throws {
        #expect(APIKey.parse("sb_abcdefghij12_" + String(repeating: "A", count: 32))?.secret.count == 32)
        #expect(APIKey.parse("sb_abcdefghij12_" + String(repeating: "-", count: 64) + String(repeating: "_", count: 64))?.keyID == "abcdefghij12")
    }

    @Test("a record survives a JSON round trip")
    func codable() throws {
        var record = APIKey.generate(tenantID: "t", scopes: [.admin], now: epoch).record
        record.revokedAt = epoch.addingTimeInterval(10)
        let decoded = try JSONDecoder().decode(APIKeyRecord.self, from: JSONEncoder().encode(record))
        #expect(decoded == record)
    }

    private func hexBytes(_ text: String) -> [UInt8]? {
        var bytes = [UInt8]()
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
