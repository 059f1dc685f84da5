/// Check-digit algorithms the detector uses to tell real identifiers from look-alike digit strings.
///
/// Each takes plain ASCII digits (or, for IBAN, digits and upper-case letters) and returns `false`
/// for anything else instead of trapping, so callers can hand over unvalidated input.
public enum Checksums {
    /// The Luhn (mod 10) check used by payment card numbers.
    public static func isValidLuhn(_ digits: some StringProtocol) -> Bool {
        isValidLuhn(ascii: Array(digits.utf8))
    }

    /// The ISO 13616 IBAN check: with the first four characters moved to the end and letters
    /// replaced by 10…35, the number is 1 modulo 97. Expects the IBAN without spaces.
    public static func isValidIBANMod97(_ iban: some StringProtocol) -> Bool {
        isValidIBANMod97(ascii: iban.utf8)
    }

    /// The Verhoeff check used by Aadhaar numbers: the last digit is the check digit.
    public static func isValidVerhoeff(_ digits: some StringProtocol) -> Bool {
        isValidVerhoeff(ascii: Array(digits.utf8))
    }

    /// The Verhoeff check digit to append to `digits`, or `nil` if `digits` is empty or not all digits.
    public static func verhoeffCheckDigit(for digits: some StringProtocol) -> Int? {
        guard !digits.isEmpty, digits.utf8.allSatisfy(isDigit) else { return nil }
        // The check digit will take position 0, so the payload starts at position 1.
        let check = verhoeffProduct(ascii: Array(digits.utf8), firstPosition: 1)
        return Verhoeff.inverse[check]
    }

    // The detector calls these on slices of the text's bytes, so checking a candidate allocates nothing.

    static func isValidLuhn(ascii digits: some BidirectionalCollection<UInt8>) -> Bool {
        guard digits.count >= 2, digits.allSatisfy(isDigit) else { return false }
        var sum = 0
        for (offsetFromRight, byte) in digits.reversed().enumerated() {
            let value = Int(byte - UInt8(ascii: "0"))
            if offsetFromRight.isMultiple(of: 2) {
                sum += value
            } else {
                sum += value < 5 ? value * 2 : value * 2 - 9
            }
        }
        return sum.isMultiple(of: 10)
    }

    static func isValidIBANMod97(ascii iban: some Collection<UInt8>) -> Bool {
        guard iban.count >= 5 else { return false }
        var remainder = 0
        for byte in iban.dropFirst(4) {
            guard let next = mod97Step(remainder, byte) else { return false }
            remainder = next
        }
        for byte in iban.prefix(4) {
            guard let next = mod97Step(remainder, byte) else { return false }
            remainder = next
        }
        return remainder == 1
    }

    /// Appends one IBAN character to the running remainder; `nil` for a character IBANs cannot hold.
    private static func mod97Step(_ remainder: Int, _ byte: UInt8) -> Int? {
        if isDigit(byte) { return (remainder * 10 + Int(byte - UInt8(ascii: "0"))) % 97 }
        // Letters stand for two digits (A = 10 … Z = 35).
        if isUppercase(byte) { return (remainder * 100 + Int(byte - UInt8(ascii: "A")) + 10) % 97 }
        return nil
    }

    static func isValidVerhoeff(ascii digits: some BidirectionalCollection<UInt8>) -> Bool {
        guard digits.count >= 2, digits.allSatisfy(isDigit) else { return false }
        return verhoeffProduct(ascii: digits, firstPosition: 0) == 0
    }

    /// The Verhoeff running product over `digits` read right to left, the rightmost digit taking
    /// position `firstPosition` in the permutation table.
    private static func verhoeffProduct(ascii digits: some BidirectionalCollection<UInt8>, firstPosition: Int) -> Int {
        var check = 0
        for (offsetFromRight, byte) in digits.reversed().enumerated() {
            let value = Int(byte - UInt8(ascii: "0"))
            check = Verhoeff.multiplication[check][Verhoeff.permutation[(offsetFromRight + firstPosition) % 8][value]]
        }
        return check
    }
}

/// The standard Verhoeff tables: multiplication in the dihedral group D5, the position
/// permutation, and the inverse.
private enum Verhoeff {
    static let multiplication: [[Int]] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ]

    static let permutation: [[Int]] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ]

    static let inverse: [Int] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]
}
