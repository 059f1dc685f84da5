/// The rules for personal data written as digits: payment cards, Aadhaar numbers, US SSNs and
/// phone numbers.
///
/// A number is read once as a run of digit groups (`+91 98765 43210`, `(415) 555-0100`), and then
/// every window of consecutive groups is tested against each layout, so that `call 98765 43210 2x`
/// or two numbers separated by a space are still found.
extension ByteScanner {
    /// No card, phone or national number has more digits than this.
    static let maximumDigits = 19
    /// No rule accepts fewer digits than this (an SSN has nine).
    static let minimumDigits = 9
    /// No rule for a number without a plus sign accepts more groups than this (a 19-digit card in
    /// fours); it keeps `1 2 3 4 5 6 …` cheap.
    static let maximumGroupsWithoutPlus = 5

    /// Proposes every layout that a window of the run's groups fits.
    func appendNumberCandidates(in run: NumberRun, to candidates: inout [ByteMatch]) {
        for first in run.parts.indices {
            let part = run.parts[first]
            if part.parenthesized, part.digitCount >= Self.minimumDigits {
                // The digits alone, as in `call me (9876543210)`: the bracket is punctuation, not an area code.
                appendNumberCandidates(in: NumberRun(parsing: bytes, from: part.digitStart), to: &candidates)
            }
            // With a plus sign only from the first group; without it from any group a number may
            // start at (not `5001` in `INV-5001`, nor the `0100` in `555-0100`).
            let startsWithPlus = first == 0 && run.hasPlus
            let startsWithoutPlus = numberStarts(at: part.start)
            guard startsWithPlus || startsWithoutPlus else { continue }
            var digitCount = 0
            for last in first..<run.parts.count {
                digitCount += run.parts[last].digitCount
                guard digitCount <= Self.maximumDigits,
                      startsWithPlus || last - first < Self.maximumGroupsWithoutPlus
                else { break }
                let end = run.parts[last].end
                guard digitCount >= Self.minimumDigits, !run.parts[last].parenthesized, numberEnds(at: end) else { continue }
                let parts = first..<last + 1
                if startsWithPlus {
                    appendCandidates(for: NumberWindow(run: run, parts: parts, hasPlus: true), start: run.start, end: end, to: &candidates)
                }
                if startsWithoutPlus {
                    appendCandidates(for: NumberWindow(run: run, parts: parts, hasPlus: false), start: part.start, end: end, to: &candidates)
                }
            }
        }
    }

    private func appendCandidates(for window: NumberWindow, start: Int, end: Int, to candidates: inout [ByteMatch]) {
        if isPaymentCard(window, start: start, end: end) {
            candidates.append(ByteMatch(kind: .paymentCard, start: start, end: end))
        }
        if isAadhaar(window, start: start, end: end) {
            candidates.append(ByteMatch(kind: .aadhaar, start: start, end: end))
        }
        if isUSSocialSecurityNumber(window) {
            candidates.append(ByteMatch(kind: .usSSN, start: start, end: end))
        }
        if isInternationalPhone(window) || isNationalPhone(window) || isUSPhone(window) {
            candidates.append(ByteMatch(kind: .phone, start: start, end: end))
        }
    }

    /// 13–19 digits passing Luhn, compact or in groups of four (the last group may be shorter),
    /// or the 4-6-5 / 4-6-4 layout of Amex and Diners. The first digit must be that of a payment
    /// network (2–6), which keeps timestamps and other long counters out.
    func isPaymentCard(_ number: NumberWindow, start: Int, end: Int) -> Bool {
        guard (13...19).contains(number.digitCount), let separator = number.uniformPlainSeparator,
              (UInt8(ascii: "2")...UInt8(ascii: "6")).contains(number.digit(0))
        else { return false }
        let parts = number.parts
        let fitsLayout = parts.count == 1
            || (parts.dropLast().allSatisfy { $0.digitCount == 4 } && (1...4).contains(parts.last?.digitCount ?? 0))
            || number.hasGroupLengths(Layout.amex) || number.hasGroupLengths(Layout.diners)
        guard fitsLayout, Checksums.isValidLuhn(ascii: number.digits) else { return false }
        return parts.count == 1 || !isInsideFourDigitGrouping(start: start, end: end, separator: separator)
    }

    /// 12 digits starting 2–9, compact or 4-4-4, passing Verhoeff.
    func isAadhaar(_ number: NumberWindow, start: Int, end: Int) -> Bool {
        guard number.digitCount == 12, let separator = number.uniformPlainSeparator,
              number.digit(0) >= UInt8(ascii: "2"),
              number.parts.count == 1 || number.hasGroupLengths(Layout.aadhaar),
              Checksums.isValidVerhoeff(ascii: number.digits)
        else { return false }
        return number.parts.count == 1 || !isInsideFourDigitGrouping(start: start, end: end, separator: separator)
    }

    /// `AAA-GG-SSSS`, without the area, group and serial values that are never issued
    /// (area 000, 666 or 9xx, group 00, serial 0000).
    func isUSSocialSecurityNumber(_ number: NumberWindow) -> Bool {
        guard number.digitCount == 9, number.uniformPlainSeparator == UInt8(ascii: "-"),
              number.hasGroupLengths(Layout.ssn)
        else { return false }
        let digits = number.digits
        let area = digits.prefix(3), group = digits.dropFirst(3).prefix(2), serial = digits.suffix(4)
        let isZero = { (byte: UInt8) in byte == UInt8(ascii: "0") }
        return !area.allSatisfy(isZero) && !area.elementsEqual("666".utf8) && area.first != UInt8(ascii: "9")
            && !group.allSatisfy(isZero) && !serial.allSatisfy(isZero)
    }

    /// An international number: `+` or the `00` international call prefix (`0044 7700 900123`),
    /// then 10–15 digits (the E.164 maximum) starting 1–9, in any grouping. The prefix is what
    /// makes it a phone number.
    func isInternationalPhone(_ number: NumberWindow) -> Bool {
        let prefixLength: Int
        if number.hasPlus {
            prefixLength = 0
        } else if number.digitCount > 2, number.digit(0) == UInt8(ascii: "0"), number.digit(1) == UInt8(ascii: "0") {
            prefixLength = 2
        } else {
            return false
        }
        return (10...15).contains(number.digitCount - prefixLength) && number.digit(prefixLength) != UInt8(ascii: "0")
    }

    /// Indian mobile numbers (10 digits starting 6–9, optionally after `0` or `91`) and UK national
    /// numbers (11 digits starting `0`), compact or in up to four groups of at least two digits
    /// separated by spaces or hyphens.
    func isNationalPhone(_ number: NumberWindow) -> Bool {
        guard (10...12).contains(number.digitCount), !number.hasPlus, !number.parts.contains(where: \.parenthesized),
              number.separators.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "-") }),
              number.parts.count <= 4, number.parts.allSatisfy({ $0.digitCount >= 2 })
        else { return false }
        func isIndianMobile(from offset: Int) -> Bool {
            number.digitCount - offset == 10 && (UInt8(ascii: "6")...UInt8(ascii: "9")).contains(number.digit(offset))
        }
        let isIndian = isIndianMobile(from: 0)
            || (number.digit(0) == UInt8(ascii: "0") && isIndianMobile(from: 1))
            || (number.digits.starts(with: "91".utf8) && isIndianMobile(from: 2))
        let isUKNational = number.digitCount == 11 && number.digit(0) == UInt8(ascii: "0") && number.digit(1) != UInt8(ascii: "0")
        return isIndian || isUKNational
    }

    /// North American numbers with separators: `(415) 555-0100`, `415-555-0100`, `415.555.0100`,
    /// `415 555 0100`, optionally after a leading `1` (`1-800-555-0100`). Area code and exchange
    /// start with 2–9.
    func isUSPhone(_ number: NumberWindow) -> Bool {
        guard (10...11).contains(number.digitCount), !number.hasPlus else { return false }
        var parts = number.parts
        var separators = number.separators
        if parts.count == 4, let trunk = parts.first, trunk.digitCount == 1, !trunk.parenthesized,
           number.digit(0) == UInt8(ascii: "1"), separators.first != NumberRun.glued {
            parts = parts.dropFirst()
            separators = separators.dropFirst()
        }
        guard parts.count == 3, let area = parts.first,
              parts.elementsEqual(Layout.northAmerican, by: { $0.digitCount == $1 }),
              !parts.dropFirst().contains(where: \.parenthesized),
              let areaSeparator = separators.first, let lineSeparator = separators.last,
              digit(at: area.digitStart, isIn: 2...9), digit(at: parts[parts.startIndex + 1].digitStart, isIn: 2...9)
        else { return false }
        let dash = UInt8(ascii: "-"), dot = UInt8(ascii: "."), space = UInt8(ascii: " ")
        if area.parenthesized {
            return (areaSeparator == NumberRun.glued || areaSeparator == space)
                && (lineSeparator == dash || lineSeparator == dot || lineSeparator == space)
        }
        return areaSeparator == lineSeparator && (areaSeparator == dash || areaSeparator == dot || areaSeparator == space)
    }

    /// Whether a grouped number is one slice of a longer run of four-digit groups (`4111 1111 1111`
    /// inside `4111 1111 1111 1112`): such a slice is not a number of its own, and taking it would
    /// let a card that fails Luhn come out as an Aadhaar number.
    func isInsideFourDigitGrouping(start: Int, end: Int, separator: UInt8) -> Bool {
        func isFourDigitGroup(_ range: Range<Int>) -> Bool {
            range.lowerBound >= 0 && range.upperBound <= bytes.count && bytes[range].allSatisfy(isDigit)
                && (range.lowerBound == 0 || !isDigit(bytes[range.lowerBound - 1]))
                && (range.upperBound == bytes.count || !isDigit(bytes[range.upperBound]))
        }
        let groupBefore = start >= 5 && bytes[start - 1] == separator && isFourDigitGroup(start - 5..<start - 1)
        let groupAfter = end < bytes.count && bytes[end] == separator && isFourDigitGroup(end + 1..<end + 5)
        return groupBefore || groupAfter
    }

    func digit(at position: Int, isIn range: ClosedRange<Int>) -> Bool {
        position < bytes.count && isDigit(bytes[position]) && range.contains(Int(bytes[position] - UInt8(ascii: "0")))
    }
}

/// Group layouts named by the rules above.
private enum Layout {
    static let amex = [4, 6, 5]
    static let diners = [4, 6, 4]
    static let aadhaar = [4, 4, 4]
    static let ssn = [3, 2, 4]
    static let northAmerican = [3, 3, 4]
}

/// Digit groups as written, each optionally in parentheses, separated by one space, hyphen or
/// dot, after an optional `+`: `+91 98765 43210`, `(415) 555-0100`, `+44 (0)20 7946 0958`.
struct NumberRun {
    struct Part {
        /// Offsets of the whole group in the text, parentheses included.
        var start: Int
        var end: Int
        var digitStart: Int
        var digitCount: Int
        /// Where this group's digits begin in `digits`.
        var digitOffset: Int
        var parenthesized: Bool
    }

    /// The separator recorded between a parenthesized group and its neighbour when nothing stands
    /// between them, as in `(415)555-0100` or `+44(0)20`.
    static let glued: UInt8 = 0

    /// Where the run starts in the text (at the `+` if there is one) and ends.
    let start: Int
    private(set) var end: Int
    private(set) var hasPlus = false
    private(set) var parts: [Part] = []
    /// `separators[i]` stands between `parts[i]` and `parts[i + 1]`.
    private(set) var separators: [UInt8] = []
    /// The digits of all groups, in order, as ASCII.
    private(set) var digits: [UInt8] = []

    /// Reads the run at `start`; it ends before anything that is not a separator followed by
    /// another group, and before a group too long to belong to any number the rules know.
    init(parsing bytes: [UInt8], from start: Int) {
        self.start = start
        self.end = start
        var position = start
        if bytes[position] == UInt8(ascii: "+") {
            hasPlus = true
            position += 1
        }
        var pendingSeparator: UInt8?
        while position < bytes.count {
            let partStart = position
            let parenthesized = bytes[position] == UInt8(ascii: "(")
            if parenthesized { position += 1 }
            let digitStart = position
            while position < bytes.count, isDigit(bytes[position]), position - digitStart <= ByteScanner.maximumDigits {
                position += 1
            }
            let digitCount = position - digitStart
            guard digitCount > 0, digitCount <= ByteScanner.maximumDigits else { return }
            if parenthesized {
                guard position < bytes.count, bytes[position] == UInt8(ascii: ")") else { return }
                position += 1
            }
            if let separator = pendingSeparator { separators.append(separator) }
            parts.append(Part(
                start: partStart, end: position, digitStart: digitStart, digitCount: digitCount,
                digitOffset: digits.count, parenthesized: parenthesized
            ))
            digits += bytes[digitStart..<digitStart + digitCount]
            end = position

            guard position < bytes.count else { return }
            let next = bytes[position]
            let afterNext = position + 1 < bytes.count ? bytes[position + 1] : 0
            if next == UInt8(ascii: " ") || next == UInt8(ascii: "-") || next == UInt8(ascii: "."),
               isDigit(afterNext) || afterNext == UInt8(ascii: "(") {
                pendingSeparator = next
                position += 1
            } else if next == UInt8(ascii: "(") || (parenthesized && isDigit(next)) {
                pendingSeparator = Self.glued
            } else {
                return
            }
        }
    }
}

/// Consecutive groups of a `NumberRun`, the unit each layout rule accepts or rejects. It views
/// the run's storage rather than copying it: every window of every number in the text is tested.
struct NumberWindow {
    let hasPlus: Bool
    let parts: ArraySlice<NumberRun.Part>
    let separators: ArraySlice<UInt8>
    let digits: ArraySlice<UInt8>

    init(run: NumberRun, parts range: Range<Int>, hasPlus: Bool) {
        self.hasPlus = hasPlus
        parts = run.parts[range]
        separators = run.separators[range.lowerBound..<(range.upperBound - 1)]
        let first = run.parts[range.lowerBound], last = run.parts[range.upperBound - 1]
        digits = run.digits[first.digitOffset..<(last.digitOffset + last.digitCount)]
    }

    var digitCount: Int { digits.count }

    /// The digit at `offset` from the start of the window, as ASCII.
    func digit(_ offset: Int) -> UInt8 { digits[digits.startIndex + offset] }

    func hasGroupLengths(_ lengths: [Int]) -> Bool {
        parts.elementsEqual(lengths, by: { $0.digitCount == $1 })
    }

    /// The one separator of a number written as bare digit groups (no `+`, no parentheses), all
    /// joined by the same space or hyphen; a space stands in when there is a single group.
    var uniformPlainSeparator: UInt8? {
        guard !hasPlus, !parts.contains(where: \.parenthesized) else { return nil }
        guard let first = separators.first else { return UInt8(ascii: " ") }
        guard first == UInt8(ascii: " ") || first == UInt8(ascii: "-"), separators.allSatisfy({ $0 == first }) else { return nil }
        return first
    }
}
