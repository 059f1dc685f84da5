import Foundation
import Privacy
import Testing

/// Sealing customer text under a customer key: what opens, and everything that must not.
@Suite struct SealerTests {
    let key = CustomerKey.generate()
    let text = "My card is 4111 1111 1111 1111, call me on +91 98765 43210 ✓"
    let context = "conversation:c-17/event:e-204"

    @Test func aSealedTextOpensWithTheSameKeyAndContext() throws {
        let sealed = try Sealer.seal(text, key: key, keyRef: "cust-42", context: context)
        #expect(sealed.alg == "A256GCM")
        #expect(sealed.keyRef == "cust-42")
        #expect(!sealed.ciphertext.contains("4111"))
        #expect(try Sealer.open(sealed, key: key, context: context) == text)
    }

    @Test func theEmptyTextRoundTrips() throws {
        let sealed = try Sealer.seal("", key: key, keyRef: "cust-42", context: context)
        #expect(try Sealer.open(sealed, key: key, context: context) == "")
    }

    @Test func anotherKeyDoesNotOpenIt() throws {
        let sealed = try Sealer.seal(text, key: key, keyRef: "cust-42", context: context)
        #expect(throws: SealingError.authenticationFailed) {
            try Sealer.open(sealed, key: CustomerKey.generate(), context: context)
        }
    }

    @Test func anotherContextDoesNotOpenIt() throws {
        let sealed = try Sealer.seal(text, key: key, keyRef: "cust-42", context: context)
        #expect(throws: SealingError.authenticationFailed) {
            try Sealer.open(sealed, key: key, context: "conversation:c-17/event:e-205")
        }
    }

    /// Flipping any one bit of the nonce, the ciphertext or the tag makes opening fail.
    @Test func anyTamperingIsDetected() throws {
        let sealed = try Sealer.seal(text, key: key, keyRef: "cust-42", context: context)
        let ciphertext = try #require(Data(base64Encoded: sealed.ciphertext))
        let nonce = try #require(Data(base64Encoded: sealed.nonce))
        for index in [0, ciphertext.count / 2, ciphertext.count - 17, ciphertext.count - 1] {
            var altered = ciphertext
            altered[index] ^= 0x01
            var tampered = sealed
            tampered.ciphertext = altered.base64EncodedString()
            #expect(throws: SealingError.authenticationFailed) { try Sealer.open(tampered, key: key, context: context) }
        }
        var alteredNonce = nonce
        alteredNonce[0] ^= 0x80
        var tampered = sealed
        tampered.nonce = alteredNonce.base64EncodedString()
        #expect(throws: SealingError.authenticationFailed) { try Sealer.open(tampered, key: key, context: context) }

        var truncated = sealed
        truncated.ciphertext = ciphertext.dropLast().base64EncodedString()
        #expect(throws: SealingError.authenticationFailed) { try Sealer.open(truncated, key: key, context: context) }
    }

    @Test func malformedSealedTextsAreRefusedWithAClearError() throws {
        let sealed = try Sealer.seal(text, key: key, keyRef: "cust-42", context: context)
        var otherAlgorithm = sealed
        otherAlgorithm.alg = "A128GCM"
        #expect(throws: SealingError.unsupportedAlgorithm("A128GCM")) { try Sealer.open(otherAlgorithm, key: key, context: context) }

        var badNonce = sealed
        badNonce.nonce = "not base64!"
        #expect(throws: SealingError.invalidBase64(field: "nonce")) { try Sealer.open(badNonce, key: key, context: context) }

        var badCiphertext = sealed
        badCiphertext.ciphertext = "%%%"
        #expect(throws: SealingError.invalidBase64(field: "ciphertext")) { try Sealer.open(badCiphertext, key: key, context: context) }

        var shortNonce = sealed
        shortNonce.nonce = Data([1, 2, 3]).base64EncodedString()
        #expect(throws: SealingError.invalidLength(field: "nonce", byteCount: 3)) { try Sealer.open(shortNonce, key: key, context: context) }

        var shortCiphertext = sealed
        shortCiphertext.ciphertext = Data(repeating: 0, count: 15).base64EncodedString()
        #expect(throws: SealingError.invalidLength(field: "ciphertext", byteCount: 15)) {
            try Sealer.open(shortCiphertext, key: key, context: context)
        }

        #expect(SealingError.authenticationFailed.description.contains("wrong key"))
        #expect(SealingError.unsupportedAlgorithm("A128GCM").description.contains("A128GCM"))
        #expect(SealingError.invalidBase64(field: "nonce").description.contains("base64"))
    }

    @Test func twoSealsOfTheSameTextUseDifferentNonces() throws {
        let first = try Sealer.seal(text, key: key, keyRef: "cust-42", context: context)
        let second = try Sealer.seal(text, key: key, keyRef: "cust-42", context: context)
        #expect(first.nonce != second.nonce)
        #expect(first.ciphertext != second.ciphertext)
        #expect(Data(base64Encoded: first.nonce)?.count == 12)
        // Ciphertext plus the 16-byte tag.
        #expect(Data(base64Encoded: first.ciphertext)?.count == text.utf8.count + 16)
    }

    @Test func sealedTextRoundTripsThroughJSONWithSnakeCaseKeys() throws {
        let sealed = try Sealer.seal(text, key: key, keyRef: "cust-42", context: context)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(sealed)
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: String])
        #expect(Set(object.keys) == ["alg", "nonce", "ciphertext", "key_ref"])
        #expect(object["key_ref"] == "cust-42")
        let decoded = try JSONDecoder().decode(SealedText.self, from: json)
        #expect(decoded == sealed)
        #expect(try Sealer.open(decoded, key: key, context: context) == text)
    }

    @Test func aKeyRoundTripsThroughItsRawBytes() throws {
        let bytes = key.rawBytes
        #expect(bytes.count == 32)
        let restored = try CustomerKey(rawBytes: bytes)
        #expect(restored == key)
        let sealed = try Sealer.seal(text, key: key, keyRef: "cust-42", context: context)
        #expect(try Sealer.open(sealed, key: restored, context: context) == text)
        #expect(CustomerKey.generate().rawBytes != bytes)
    }

    @Test(arguments: [0, 16, 31, 33, 64])
    func aKeyMustBe32Bytes(_ count: Int) {
        #expect(throws: SealingError.invalidKeyLength(count)) { try CustomerKey(rawBytes: [UInt8](repeating: 7, count: count)) }
    }

    @Test func aKeysDescriptionDoesNotShowItsBytes() {
        let key = try? CustomerKey(rawBytes: [UInt8](repeating: 0xAB, count: 32))
        let shown = "\(String(describing: key)) \(String(reflecting: key))"
        #expect(!shown.lowercased().contains("ab, "))
        #expect(!shown.contains("171"))
        var dumped = ""
        dump(key, to: &dumped)
        #expect(!dumped.contains("171"))
    }
}
