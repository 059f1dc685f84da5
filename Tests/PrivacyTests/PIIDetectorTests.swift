import Foundation
import Privacy
import Testing

/// Detection rules per kind (what is found, and the look-alikes that must not be), overlaps,
/// redaction output, and the cost on hostile input.
@Suite struct PIIDetectorTests {
    let detector = PIIDetector.shared

    /// A value of `kind` is found exactly, wherever it stands: alone, inside a sentence, or in
    /// brackets at the end of one.
    func expectFound(_ kind: PIIKind, _ value: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for text in [value, "see \(value) please", "(\(value))."] {
            let findings = detector.findings(in: text)
            #expect(findings.map(\.kind) == [kind], "in \"\(text)\"", sourceLocation: sourceLocation)
            #expect(findings.map(\.text) == [value], "in \"\(text)\"", sourceLocation: sourceLocation)
            #expect(findings.map { String(text[$0.range]) } == [value], sourceLocation: sourceLocation)
        }
    }

    func expectNothingFound(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let findings = detector.findings(in: text)
        #expect(findings.isEmpty, "\"\(text)\" gave \(findings.map { "\($0.kind.rawValue): \($0.text)" })", sourceLocation: sourceLocation)
    }

    // MARK: - Per kind

    @Test(arguments: ["ada@example.com", "first.last+tag@mail.example.co.uk", "x_y-z%1@sub-domain.example.org", "ADA@EXAMPLE.IN"])
    func emailIsFound(_ value: String) { expectFound(.email, value) }

    @Test(arguments: ["ada@localhost", "ada@example", "@example.com", "ada@.com", "ada@example.c0m", "ada@-example.com", "a@b.c"])
    func emailLookAlikesAreNot(_ text: String) { expectNothingFound(text) }

    @Test(arguments: [
        // E.164
        "+447700900123", "+1 415 555 0100", "+91 98765 43210", "+91-98765-43210", "+44 (0)20 7946 0958", "+1 (415) 555-0100",
        "+4930123456", "0044 7700 900123", "0091 98765 43210", "00447700900123",
        // UK national
        "07700 900123", "07700900123", "020 7946 0958",
        // Indian mobile
        "9876543210", "98765 43210", "98765-43210", "098765 43210", "09876543210", "919876543210",
        // US national with separators
        "(415) 555-0100", "(415)555-0100", "415-555-0100", "415.555.0100", "415 555 0100", "1-800-555-0100",
    ])
    func phoneIsFound(_ value: String) { expectFound(.phone, value) }

    @Test(arguments: [
        "12345", "555-0100", "+44 20 7946", "+1 415 555", "5876543210", "4155550100", "(015) 555-0100", "415-055-0100",
        "415-555 0100", "9876543210.50", "9876543210-A", "ref98765 43210", "+0 123 456 7890", "98 76 54 32 10", "0044 20 7946", "000 123 456 7890",
    ])
    func phoneLookAlikesAreNot(_ text: String) { expectNothingFound(text) }

    @Test(arguments: [
        "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5500-0000-0000-0004", "5500 0000 0000 0004",
        "3782 822463 10005", "378282246310005", "3056 930902 5904", "4222222222222", "6011111111111117",
        "4242 4242 4242 4242",
    ])
    func paymentCardIsFound(_ value: String) { expectFound(.paymentCard, value) }

    @Test(arguments: [
        "4111 1111 1111 1112", "4111111111111112", "5500-0000-0000-0005",
        "4111 1111-1111 1111", "41111 11111 11111 1", "1700000000000", "0000000000000000",
        "4111 1111 1111 1111 1111 1111", "4111111111111111.00",
    ])
    func paymentCardLookAlikesAreNot(_ text: String) { expectNothingFound(text) }

    @Test(arguments: ["GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432", "DE89370400440532013000", "DE89 3704 0044 0532 0130 00", "NO9386011117947"])
    func ibanIsFound(_ value: String) { expectFound(.iban, value) }

    @Test(arguments: [
        "GB82 WEST 1234 5698 7654 31", "GB82WEST12345698765431", "DE89370400440532013001",
        "GB82 WEST 1234 5698 7654 3", "GB82 WES T1234 5698 7654 32", "GB82WEST12345698765432X", "gb82west12345698765432",
        "JD014600003828392412",
    ])
    func ibanLookAlikesAreNot(_ text: String) { expectNothingFound(text) }

    @Test(arguments: ["123-45-6789", "078-05-1120", "665-01-0001"])
    func usSSNIsFound(_ value: String) { expectFound(.usSSN, value) }

    @Test(arguments: [
        "000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000", "123 45 6789", "123-45-67890", "A123-45-6789",
        "2024-01-15",
    ])
    func usSSNLookAlikesAreNot(_ text: String) { expectNothingFound(text) }

    @Test(arguments: ["2341 2341 2346", "2341-2341-2346", "234123412346", "4991 8765 4323", "3691 2345 6780"])
    func aadhaarIsFound(_ value: String) { expectFound(.aadhaar, value) }

    @Test(arguments: ["2341 2341 2347", "234123412347", "1341 2341 2346", "2341 23412346", "2341 2341 2346 0000"])
    func aadhaarLookAlikesAreNot(_ text: String) { expectNothingFound(text) }

    @Test(arguments: ["ABCPE1234F", "AAACB1234Z", "BNZAA2318J"])
    func panIsFound(_ value: String) { expectFound(.pan, value) }

    @Test(arguments: ["ABCDE1234F", "ABCPE12345", "XABCPE1234F", "ABCPE1234FX", "abcpe1234f", "ABCPE1234F9", "ABCP1234F"])
    func panLookAlikesAreNot(_ text: String) { expectNothingFound(text) }

    /// The look-alikes named in the brief: none is personal data.
    @Test(arguments: [
        "ABC123", "$59.90", "2024-01-15", "15/01/2024", "LS1 4AB", "1Z999AA10123456784", "JD014600003828392412",
        "INV-5001", "42", "ORDER-9876543210", "v1.2.3", "192.168.100.200", "12:30", "Rs. 1,234,567.00",
        "order #123-4567890-1234567", "123e4567-e89b-12d3-a456-426614174000", "at 1700000000", "ts 1700000000000",
        "ZIP 94105-1234", "2024-01-15T10:30:00Z", "IFSC HDFC0001234", "PIN 560001", "£1,299.99 on 12/05/2024",
    ])
    func everydayIdentifiersAreNotPersonalData(_ text: String) { expectNothingFound(text) }

    // MARK: - Checksums are applied

    /// Each pair differs only in the check digit: if Luhn, mod-97 or Verhoeff were skipped, the
    /// second of the pair would be flagged too.
    @Test(arguments: [
        (PIIKind.paymentCard, "4111 1111 1111 1111", "4111 1111 1111 1113"),
        (PIIKind.paymentCard, "2341234123460007", "2341234123460008"),
        (PIIKind.iban, "GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 33"),
        (PIIKind.iban, "DE89370400440532013000", "DE89370400440532013009"),
        (PIIKind.aadhaar, "2341 2341 2346", "2341 2341 2345"),
        (PIIKind.aadhaar, "876543210988", "876543210989"),
    ])
    func aWrongCheckDigitIsNotFlagged(kind: PIIKind, valid: String, wrongCheckDigit: String) {
        #expect(detector.findings(in: "number \(valid) here").map(\.kind) == [kind])
        #expect(detector.findings(in: "number \(wrongCheckDigit) here").isEmpty)
    }

    // MARK: - Overlaps

    @Test func theLongerOrMoreSpecificFindingWins() {
        // A card is not also a phone, nor is its first twelve digits an Aadhaar number.
        #expect(detector.findings(in: "4111 1111 1111 1111").map(\.kind) == [.paymentCard])
        // 919876543216 is both "91" + an Indian mobile and a Verhoeff-valid Aadhaar number.
        #expect(detector.findings(in: "id 919876543216").map(\.kind) == [.aadhaar])
        // The whole international number, not the national number inside it.
        #expect(detector.findings(in: "+91 98765 43210").map(\.text) == ["+91 98765 43210"])
        // A phone number inside an e-mail address is part of the address.
        #expect(detector.findings(in: "9876543210@example.com").map(\.kind) == [.email])
        // The IBAN, not a card-like digit run inside it.
        #expect(detector.findings(in: "DE89 3704 0044 0532 0130 00").map(\.kind) == [.iban])
    }

    @Test func numbersNextToOtherNumbersAreStillFound() {
        #expect(detector.findings(in: "9876543210 9123456789").map(\.text) == ["9876543210", "9123456789"])
        #expect(detector.findings(in: "call 98765 43210 2x a day").map(\.text) == ["98765 43210"])
        #expect(detector.findings(in: "4111 1111 1111 1111 12/26 cvv 123").map(\.text) == ["4111 1111 1111 1111"])
        #expect(detector.findings(in: "call me (9876543210)").map(\.text) == ["9876543210"])
    }

    @Test func findingsComeInOrderWithRangesIntoTheOriginalText() {
        let text = "Ünïcødé 電話 9876543210。 mail ada@example.com, PAN ABCPE1234F"
        let findings = detector.findings(in: text)
        #expect(findings.map(\.kind) == [.phone, .email, .pan])
        #expect(findings.map { String(text[$0.range]) } == ["9876543210", "ada@example.com", "ABCPE1234F"])
    }

    @Test func aFindingsDescriptionDoesNotShowTheValue() {
        let finding = detector.findings(in: "ada@example.com")[0]
        #expect(!"\(finding)".contains("ada"))
        var dumped = ""
        dump(finding, to: &dumped)
        #expect(!dumped.contains("ada"))
    }

    // MARK: - Redaction

    @Test func redactionReplacesEachFindingWithItsPlaceholder() {
        let redacted = detector.redact("Mail me at ada@example.com or call +91 98765 43210, card 4111 1111 1111 1111")
        #expect(redacted.text == "Mail me at [EMAIL] or call [PHONE], card [CARD]")
        #expect(redacted.replacements == [.email: 1, .phone: 1, .paymentCard: 1])
        #expect(redacted.kinds == [.email, .phone, .paymentCard])
        #expect(redacted.replacementCount == 3)
    }

    @Test func everyKindHasItsPlaceholder() {
        let text = "a@b.co, +447700900123, 5500-0000-0000-0004, GB82 WEST 1234 5698 7654 32, 123-45-6789, 2341 2341 2346, ABCPE1234F, 07700 900123"
        let redacted = detector.redact(text)
        #expect(redacted.text == "[EMAIL], [PHONE], [CARD], [IBAN], [SSN], [AADHAAR], [PAN], [PHONE]")
        #expect(redacted.replacements == [.email: 1, .phone: 2, .paymentCard: 1, .iban: 1, .usSSN: 1, .aadhaar: 1, .pan: 1])
    }

    @Test func allowedKindsStayInClear() {
        let text = "Mail me at ada@example.com or call +91 98765 43210"
        let redacted = detector.redact(text, allowing: [.phone])
        #expect(redacted.text == "Mail me at [EMAIL] or call +91 98765 43210")
        #expect(redacted.replacements == [.email: 1])
        #expect(detector.redact(text, allowing: Set(PIIKind.allCases)) == RedactedText(text: text, replacements: [:]))
    }

    /// `+91 2341 2341 2346` reads as a phone number and, inside it, as an Aadhaar number: allowing
    /// phone numbers must not let the Aadhaar number through.
    @Test func allowingAKindNeverLetsAnotherKindThrough() {
        let text = "ref +91 2341 2341 2346"
        #expect(detector.redact(text).text == "ref [PHONE]")
        #expect(detector.redact(text, allowing: [.phone]).text == "ref +91 [AADHAAR]")
    }

    @Test func theRetailDemoSentenceComesOutUnchanged() {
        let text = "Where is my order ABC123? It cost $59.90, tracking 1Z999AA10123456784, invoice INV-5001, ship to LS1 4AB"
        let redacted = detector.redact(text)
        #expect(redacted.text == text)
        #expect(redacted.replacements.isEmpty)
    }

    @Test func redactedTextEncodesKindsByName() throws {
        let redacted = detector.redact("call 9876543210 or 07700 900123, card 4111111111111111")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(redacted), as: UTF8.self)
        #expect(json == #"{"replacements":{"payment_card":1,"phone":2},"text":"call [PHONE] or [PHONE], card [CARD]"}"#)
        #expect(try JSONDecoder().decode(RedactedText.self, from: Data(json.utf8)) == redacted)
    }

    @Test func kindRawValuesAreTheStableNames() {
        #expect(PIIKind.allCases.map(\.rawValue) == ["email", "phone", "payment_card", "iban", "us_ssn", "aadhaar", "pan"])
    }

    // MARK: - Cost and concurrency

    /// Inputs built to make a backtracking matcher or a quadratic scan blow up: the detector stays
    /// linear, so each takes a small fraction of the bound even in a debug build.
    @Test(arguments: [
        String(repeating: "1 ", count: 50_000), String(repeating: "1-", count: 50_000), String(repeating: "9", count: 100_000),
        String(repeating: "a@", count: 50_000), String(repeating: "a.", count: 50_000) + "@" + String(repeating: "b.", count: 50_000),
        String(repeating: "+1 (2) ", count: 15_000), String(repeating: "GB82 ", count: 20_000), String(repeating: "ABCPE", count: 20_000),
        String(repeating: "4111 1111 1111 1111 ", count: 5_000),
    ])
    func hostileInputStaysFast(_ text: String) {
        let clock = ContinuousClock()
        let elapsed = clock.measure { _ = detector.findings(in: text) }
        #expect(elapsed < .seconds(5), "took \(elapsed) for \(text.utf8.count) bytes")
    }

    /// Random texts over the characters the rules care about: the scanner never traps, and what it
    /// returns is ordered, non-overlapping, and points at the text it reports.
    @Test func randomTextsNeverTrapAndFindingsAreConsistent() {
        var random = SplitMix64(seed: 0x5EED)
        let alphabet = Array("0123456789012345678901234567890123456789 -.+()@_aAZPGBDE,é")
        for _ in 0..<20_000 {
            let length = Int(random.next() % 48)
            let text = String((0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            let findings = detector.findings(in: text)
            for (earlier, later) in zip(findings, findings.dropFirst()) {
                #expect(earlier.range.upperBound <= later.range.lowerBound, "overlap in \"\(text)\"")
            }
            for finding in findings {
                #expect(String(text[finding.range]) == finding.text)
            }
            let redacted = detector.redact(text)
            #expect(redacted.replacementCount == findings.count)
        }
    }

    @Test func theSharedDetectorWorksFromManyTasksAtOnce() async {
        let text = "Mail me at ada@example.com or call +91 98765 43210, card 4111 1111 1111 1111"
        let expected = PIIDetector.shared.redact(text)
        let results = await withTaskGroup(of: RedactedText.self) { group in
            for _ in 0..<32 { group.addTask { PIIDetector.shared.redact(text) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 32)
        #expect(results.allSatisfy { $0 == expected })
    }
}

/// A small seeded generator, so the random-text test is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
