import Privacy
import Testing

/// The check-digit algorithms against published examples, and against the errors they exist to catch.
@Suite struct ChecksumTests {
    @Test(arguments: [
        "4111111111111111", "5500000000000004", "378282246310005", "30569309025904", "4222222222222",
        "6011111111111117", "79927398713",
    ])
    func luhnAcceptsPublishedValidNumbers(_ number: String) {
        #expect(Checksums.isValidLuhn(number))
    }

    @Test(arguments: ["4111111111111112", "5500000000000005", "79927398710", "", "4111-1111", "abc"])
    func luhnRejectsWrongCheckDigitsAndNonDigits(_ number: String) {
        #expect(!Checksums.isValidLuhn(number))
    }

    @Test(arguments: [
        "GB82WEST12345698765432", "DE89370400440532013000", "NL91ABNA0417164300", "FR1420041010050500013M02606",
        "NO9386011117947",
    ])
    func mod97AcceptsPublishedIBANs(_ iban: String) {
        #expect(Checksums.isValidIBANMod97(iban))
    }

    @Test(arguments: ["GB82WEST12345698765431", "GB28WEST12345698765432", "DE89370400440532013001", "GB82 WEST", "gb82west12345698765432"])
    func mod97RejectsAlteredIBANs(_ iban: String) {
        #expect(!Checksums.isValidIBANMod97(iban))
    }

    /// The worked example of the Verhoeff algorithm: the check digit of 236 is 3.
    @Test func verhoeffMatchesThePublishedExample() {
        #expect(Checksums.verhoeffCheckDigit(for: "236") == 3)
        #expect(Checksums.isValidVerhoeff("2363"))
        #expect(Checksums.verhoeffCheckDigit(for: "12345") == 1)
        #expect(Checksums.isValidVerhoeff("123451"))
        #expect(!Checksums.isValidVerhoeff("2364"))
        #expect(Checksums.verhoeffCheckDigit(for: "") == nil)
        #expect(Checksums.verhoeffCheckDigit(for: "12a") == nil)
    }

    /// Aadhaar-shaped numbers generated with `verhoeffCheckDigit` (and cross-checked with
    /// python-stdnum's `stdnum.in_.aadhaar`), plus the property Verhoeff is chosen for: every
    /// single-digit error and every swap of two adjacent different digits is caught.
    @Test(arguments: ["234123412346", "499187654323", "876543210988", "369123456780", "919876543216"])
    func verhoeffCatchesEverySingleDigitErrorAndAdjacentSwap(_ number: String) {
        #expect(Checksums.isValidVerhoeff(number))
        #expect(Checksums.verhoeffCheckDigit(for: number.dropLast()).map(String.init) == String(number.last ?? " "))
        let digits = Array(number)
        for index in digits.indices {
            for replacement in "0123456789" where replacement != digits[index] {
                var altered = digits
                altered[index] = replacement
                #expect(!Checksums.isValidVerhoeff(String(altered)), "\(String(altered)) should fail")
            }
            if index + 1 < digits.count, digits[index] != digits[index + 1] {
                var swapped = digits
                swapped.swapAt(index, index + 1)
                #expect(!Checksums.isValidVerhoeff(String(swapped)), "\(String(swapped)) should fail")
            }
        }
    }
}
