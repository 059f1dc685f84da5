public import Foundation

/// Finds and redacts personal data in free text: e-mail addresses, phone numbers, payment card
/// numbers, IBANs, US social security numbers, Aadhaar numbers and Indian PANs.
///
/// The detector is a hand-written scanner over the UTF-8 bytes rather than a set of regular
/// expressions: it runs on every customer message and every log line that carries customer text,
/// so its cost must stay linear in the length of the text whatever the input (no backtracking),
/// and the rules need checksums and overlap decisions that regular expressions cannot express.
///
/// Numbers are only taken where they stand alone: a digit run glued to letters (`1Z999AA10123456784`,
/// `INV-5001`, `LS1 4AB`) or continued by a decimal point (`9876543210.50`) is part of some other
/// identifier or amount and is never flagged. Where two findings overlap, the longer one wins, and
/// on equal length the one validated by a checksum wins over a phone number.
///
/// Deliberately not caught, to keep false positives down: phone numbers without a `+`/`00` prefix
/// other than UK, Indian mobile and North American ones (e.g. French `06 12 34 56 78`); North
/// American numbers written as ten bare digits; numbers whose groups are joined by non-ASCII
/// spaces or written in non-ASCII digits; lower-case IBANs and PANs; cards whose first digit is
/// not 2–6; e-mail addresses with non-ASCII characters or quoted local parts.
///
/// Create it once (`PIIDetector.shared`) and use it from any task: it holds no state.
public struct PIIDetector: Sendable {
    /// A detector with the standard rules, to share across the process.
    public static let shared = PIIDetector()

    public init() {}

    /// The personal data in `text`, in order of position, none overlapping another.
    public func findings(in text: String) -> [PIIFinding] {
        findings(in: text, ignoring: [])
    }

    /// `text` with every finding replaced by its kind's placeholder (`[EMAIL]`, `[PHONE]`, `[CARD]`,
    /// `[IBAN]`, `[SSN]`, `[AADHAAR]`, `[PAN]`), except findings of the `allowing` kinds, which stay
    /// in clear.
    ///
    /// Allowed kinds are set aside before overlaps are settled, so a value that reads both as an
    /// allowed kind and as another kind is redacted as the other: allowing phone numbers never lets
    /// an Aadhaar or card number through.
    ///
    /// Values of the `referencing` kinds (those a pack lets the executor unseal for its tools)
    /// become references instead, `[PHONE#3f9a2b1c]`, derived from `messageID` and the value's
    /// ordinal among its kind: the executor finds the value in the sealed original by them.
    public func redact(_ text: String, allowing allowed: Set<PIIKind> = [], referencing referenced: Set<PIIKind> = [], messageID: UUID? = nil) -> RedactedText {
        var redacted = ""
        var replacements: [PIIKind: Int] = [:]
        var copiedUpTo = text.startIndex
        for finding in findings(in: text, ignoring: allowed) {
            redacted += text[copiedUpTo..<finding.range.lowerBound]
            replacements[finding.kind, default: 0] += 1
            if referenced.contains(finding.kind), let messageID {
                redacted += SealedReference(kind: finding.kind, messageID: messageID, ordinal: replacements[finding.kind]!).placeholder
            } else {
                redacted += finding.kind.placeholder
            }
            copiedUpTo = finding.range.upperBound
        }
        redacted += text[copiedUpTo...]
        return RedactedText(text: redacted, replacements: replacements)
    }

    /// The value `reference` stands for in the original text of the message it was made from
    /// (redacted with the same `allowing` kinds), or nil when the text holds no such value.
    public func value(of reference: SealedReference, messageID: UUID, in original: String, allowing allowed: Set<PIIKind> = []) -> String? {
        var ordinal = 0
        for finding in findings(in: original, ignoring: allowed) where finding.kind == reference.kind {
            ordinal += 1
            if SealedReference(kind: reference.kind, messageID: messageID, ordinal: ordinal) == reference { return finding.text }
        }
        return nil
    }

    func findings(in text: String, ignoring ignored: Set<PIIKind>) -> [PIIFinding] {
        var candidates = ByteScanner(bytes: Array(text.utf8)).candidates()
        if !ignored.isEmpty { candidates.removeAll { ignored.contains($0.kind) } }
        let matches = ByteScanner.withoutOverlaps(candidates)
        let utf8 = text.utf8
        return matches.map { match in
            let lower = utf8.index(utf8.startIndex, offsetBy: match.start)
            let upper = utf8.index(lower, offsetBy: match.end - match.start)
            return PIIFinding(kind: match.kind, range: lower..<upper, text: String(text[lower..<upper]))
        }
    }
}

/// A finding as byte offsets into the UTF-8 of the scanned text.
struct ByteMatch: Equatable {
    var kind: PIIKind
    var start: Int
    var end: Int
    var length: Int { end - start }
}

/// The scanner behind `PIIDetector`. Every rule looks for ASCII patterns, so it works on bytes; any
/// non-ASCII byte counts as a separator, which lets numbers written next to non-Latin text
/// (`電話9876543210`) still be found.
struct ByteScanner {
    let bytes: [UInt8]

    /// Everything any rule accepts, overlaps included; `withoutOverlaps` then picks the findings.
    func candidates() -> [ByteMatch] {
        var candidates: [ByteMatch] = []
        var position = 0
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "@") {
                if let email = email(around: position) { candidates.append(email) }
            } else if isDigit(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "("), numberStarts(at: position) {
                let run = NumberRun(parsing: bytes, from: position)
                if !run.parts.isEmpty {
                    appendNumberCandidates(in: run, to: &candidates)
                    // Every number inside the run has been tried; a run holds no '@' or letters.
                    position = run.end
                    continue
                }
            } else if isUppercase(byte), wordStarts(at: position) {
                if let pan = pan(at: position) { candidates.append(pan) }
                if let iban = iban(at: position) { candidates.append(iban) }
            }
            position += 1
        }
        return candidates
    }

    /// Longest first, and on equal length the more specific kind, so that a card number is not also
    /// a phone number and an Aadhaar number is not a phone number.
    static func withoutOverlaps(_ candidates: [ByteMatch]) -> [ByteMatch] {
        guard !candidates.isEmpty else { return [] }
        let ranked = candidates.sorted { a, b in
            if a.length != b.length { return a.length > b.length }
            if a.kind.overlapRank != b.kind.overlapRank { return a.kind.overlapRank < b.kind.overlapRank }
            return a.start < b.start
        }
        // Each byte lies under a bounded number of candidates (numbers are short, and an e-mail
        // address spans at most from the previous '@' to the next), so marking taken bytes keeps
        // this linear in the length of the text.
        var taken = [Bool](repeating: false, count: ranked.lazy.map(\.end).max() ?? 0)
        var kept: [ByteMatch] = []
        for candidate in ranked where !taken[candidate.start..<candidate.end].contains(true) {
            for offset in candidate.start..<candidate.end { taken[offset] = true }
            kept.append(candidate)
        }
        return kept.sorted { $0.start < $1.start }
    }

    // MARK: - E-mail

    /// `local@domain.tld` around the `@` at `at`: the local part from the usual unquoted characters,
    /// the domain from at least two labels, the last one at least two letters.
    func email(around at: Int) -> ByteMatch? {
        var start = at
        while start > 0, isEmailLocalCharacter(bytes[start - 1]) { start -= 1 }
        // A dot cannot start or end the local part; leading ones are punctuation before the address.
        while start < at, bytes[start] == UInt8(ascii: ".") { start += 1 }
        guard start < at, bytes[at - 1] != UInt8(ascii: ".") else { return nil }

        var labels: [Range<Int>] = []
        var position = at + 1
        while true {
            let labelStart = position
            while position < bytes.count, isAlphanumeric(bytes[position]) || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position > labelStart else { break }
            labels.append(labelStart..<position)
            // A dot continues the domain only when another label follows; otherwise it ends a sentence.
            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "."), isAlphanumeric(bytes[position + 1])
            else { break }
            position += 1
        }
        guard labels.count >= 2, let topLevel = labels.last, topLevel.count >= 2,
              bytes[topLevel].allSatisfy(isLetter),
              labels.allSatisfy({ bytes[$0.lowerBound] != UInt8(ascii: "-") && bytes[$0.upperBound - 1] != UInt8(ascii: "-") })
        else { return nil }
        return ByteMatch(kind: .email, start: start, end: topLevel.upperBound)
    }

    // MARK: - PAN and IBAN

    /// The holder types a PAN's fourth letter can be (person, company, firm, trust, …).
    static let panHolderTypes = Set("ABCFGHLJPTK".utf8)

    /// Indian PAN: five letters, four digits, a letter; the fourth letter is the holder type.
    func pan(at start: Int) -> ByteMatch? {
        let end = start + 10
        guard end <= bytes.count, wordEnds(at: end) else { return nil }
        guard bytes[start..<start + 5].allSatisfy(isUppercase),
              Self.panHolderTypes.contains(bytes[start + 3]),
              bytes[start + 5..<start + 9].allSatisfy(isDigit),
              isUppercase(bytes[start + 9])
        else { return nil }
        return ByteMatch(kind: .pan, start: start, end: end)
    }

    /// IBAN in upper case, either compact (`DE89370400440532013000`) or in groups of four separated
    /// by single spaces (`GB82 WEST 1234 5698 7654 32`), with the registered length for its
    /// country and a valid mod-97 check.
    func iban(at start: Int) -> ByteMatch? {
        guard start + 4 <= bytes.count,
              isUppercase(bytes[start + 1]), isDigit(bytes[start + 2]), isDigit(bytes[start + 3]),
              let expectedLength = IBANRegistry.length(countryCode: (bytes[start], bytes[start + 1]))
        else { return nil }
        let firstGroupEnd = endOfIBANCharacters(from: start, limit: expectedLength + 1)
        var compact = Array(bytes[start..<firstGroupEnd])
        var position = firstGroupEnd
        if compact.count != expectedLength {
            // Grouped layout: fours separated by single spaces, only the last group shorter.
            guard compact.count == 4 else { return nil }
            while compact.count < expectedLength {
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: " ") else { return nil }
                let groupEnd = endOfIBANCharacters(from: position + 1, limit: 5)
                guard groupEnd - (position + 1) == min(4, expectedLength - compact.count) else { return nil }
                compact += bytes[(position + 1)..<groupEnd]
                position = groupEnd
            }
        }
        guard wordEnds(at: position), Checksums.isValidIBANMod97(ascii: compact)
        else { return nil }
        return ByteMatch(kind: .iban, start: start, end: position)
    }

    /// The end of the run of upper-case letters and digits at `start`, reading at most `limit`.
    func endOfIBANCharacters(from start: Int, limit: Int) -> Int {
        var position = start
        while position < bytes.count, position - start < limit, isUppercase(bytes[position]) || isDigit(bytes[position]) {
            position += 1
        }
        return position
    }

    // MARK: - Boundaries and character classes

    /// A word starts here: the previous byte is not a letter, digit or underscore.
    func wordStarts(at position: Int) -> Bool {
        position == 0 || !isWordCharacter(bytes[position - 1])
    }

    /// A word ends before this offset: the byte at it is not a letter, digit or underscore.
    func wordEnds(at end: Int) -> Bool {
        end == bytes.count || !isWordCharacter(bytes[end])
    }

    /// A number may start here: it starts a word, and is not the tail of something joined by a
    /// dot or hyphen (`INV-5001`, the `90` of `59.90`).
    func numberStarts(at position: Int) -> Bool {
        guard wordStarts(at: position) else { return false }
        return !(position >= 2 && isJoiner(bytes[position - 1]) && isAlphanumeric(bytes[position - 2]))
    }

    /// A number may end before this offset: it ends a word, and is not continued by a dot or
    /// hyphen joined to more (`9876543210.50`, `9876543210-A`).
    func numberEnds(at end: Int) -> Bool {
        guard wordEnds(at: end) else { return false }
        return !(end + 1 < bytes.count && isJoiner(bytes[end]) && isAlphanumeric(bytes[end + 1]))
    }
}

/// Registered IBAN lengths by country, from the SWIFT IBAN Registry (release 101). Checking the
/// length for the country keeps two-letters-two-digits identifiers such as parcel tracking
/// numbers (`JD014600003828392412`) out even before the mod-97 check.
enum IBANRegistry {
    static func length(countryCode: (UInt8, UInt8)) -> Int? {
        lengths[String(decoding: [countryCode.0, countryCode.1], as: UTF8.self)]
    }

    static let lengths: [String: Int] = [
        "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
        "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
        "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
        "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
        "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
        "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
        "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
        "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
        "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    ]
}

extension PIIKind {
    /// Tie-break between overlapping findings of equal length: checksum-validated kinds first,
    /// phone numbers (the loosest rule) last.
    var overlapRank: Int {
        switch self {
        case .email: 0
        case .iban: 1
        case .paymentCard: 2
        case .aadhaar: 3
        case .usSSN: 4
        case .pan: 5
        case .phone: 6
        }
    }
}

func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
func isUppercase(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") }
func isLetter(_ byte: UInt8) -> Bool { isUppercase(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) }
func isAlphanumeric(_ byte: UInt8) -> Bool { isLetter(byte) || isDigit(byte) }
func isWordCharacter(_ byte: UInt8) -> Bool { isAlphanumeric(byte) || byte == UInt8(ascii: "_") }
/// Characters that glue a number to what is next to it, making both one token.
func isJoiner(_ byte: UInt8) -> Bool { byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") }
func isEmailLocalCharacter(_ byte: UInt8) -> Bool {
    isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "%")
        || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
}
