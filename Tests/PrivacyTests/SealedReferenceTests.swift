import Foundation
import Privacy
import Testing

/// References for values a pack seals for its tools: what stands on the log instead of the
/// value, and how the executor finds the value again in the sealed original.
@Suite struct SealedReferenceTests {
    let message = UUID(uuidString: "6F9619FF-8B86-D011-B42D-00C04FC964FF")!
    let original = "Top up 07700 900123 with 20, or my other line +44 7700 900456; mail ada@example.com"

    @Test func redactionWritesReferencesForSealedKindsAndPlaceholdersForTheRest() throws {
        let redacted = PIIDetector.shared.redact(original, referencing: [.phone], messageID: message)
        let references = SealedReference.all(in: redacted.text)
        #expect(references.map(\.kind) == [.phone, .phone])
        #expect(Set(references).count == 2, "each value its own reference")
        #expect(redacted.text == "Top up \(references[0].placeholder) with 20, or my other line \(references[1].placeholder); mail [EMAIL]")
        #expect(redacted.replacements == [.phone: 2, .email: 1])
        #expect(references[0].placeholder.wholeMatch(of: /\[PHONE#[0-9a-f]{8}\]/) != nil)
        // Deterministic: the same message gives the same references; another message others.
        #expect(PIIDetector.shared.redact(original, referencing: [.phone], messageID: message).text == redacted.text)
        #expect(PIIDetector.shared.redact(original, referencing: [.phone], messageID: UUID()).text != redacted.text)
    }

    @Test func theValueIsFoundInTheOriginalByItsReference() throws {
        let references = SealedReference.all(in: PIIDetector.shared.redact(original, referencing: [.phone], messageID: message).text)
        #expect(PIIDetector.shared.value(of: references[0], messageID: message, in: original) == "07700 900123")
        #expect(PIIDetector.shared.value(of: references[1], messageID: message, in: original) == "+44 7700 900456")
        #expect(PIIDetector.shared.value(of: references[0], messageID: UUID(), in: original) == nil, "a reference belongs to its message")
        #expect(PIIDetector.shared.value(of: references[0], messageID: message, in: "no numbers here") == nil)
    }

    @Test func referencesAreReplacedForDisplayAndOnlyWellFormedOnesCount() {
        let text = "The PUK for [PHONE#0a1b2c3d] is 12345678. [PHONE#XYZ] [PHONE] [not a ref] [EMAIL#ffffffff]"
        #expect(SealedReference.all(in: text).map(\.placeholder) == ["[PHONE#0a1b2c3d]", "[EMAIL#ffffffff]"])
        let shown = SealedReference.replacing(in: text) { $0.kind.sealedDisplay }
        #expect(shown == "The PUK for your phone number is 12345678. [PHONE#XYZ] [PHONE] [not a ref] your email address")
        #expect(SealedReference.replacing(in: text) { _ in nil } == text, "nil keeps the reference")
    }
}
