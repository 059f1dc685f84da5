/// `multipleOf` on decimal values rather than binary floating point.
///
/// JSON numbers are decimal text, and `0.0075 / 0.0001` is `74.99999999999999` in `Double`.
/// Each double is read back as the shortest decimal that round-trips (what the author
/// wrote, for up to 15 significant digits), `x = a·10^p`, `m = b·10^q`, and the test becomes
/// the exact integer question "does b divide a·10^(p−q)?".
enum DecimalMultiple {
    static func isMultiple(_ value: Double, of divisor: Double) -> Bool {
        if value == 0 { return true }
        guard value.isFinite, divisor.isFinite, divisor > 0,
            let (a, p) = decompose(value), let (b, q) = decompose(divisor)
        else { return false }
        // a has no trailing zeros, so it cannot absorb a negative power of ten.
        guard p >= q else { return false }
        var remainder = a % b
        var steps = p - q
        // remainder < b < 10^17, so remainder * 10 fits in UInt64.
        while remainder != 0 && steps > 0 {
            remainder = (remainder * 10) % b
            steps -= 1
        }
        return remainder == 0
    }

    /// `|x| = digits · 10^exponent` with `digits` free of trailing zeros (≤ 17 digits).
    static func decompose(_ value: Double) -> (digits: UInt64, exponent: Int)? {
        let text = abs(value).description
        var digits: UInt64 = 0
        var exponent = 0
        var afterPoint = false
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: ".") {
                afterPoint = true
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                let (shifted, overflow) = digits.multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                digits = shifted + UInt64(byte - UInt8(ascii: "0"))
                if afterPoint { exponent -= 1 }
            } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                guard let power = Int(String(text[utf8.index(after: index)...]).replacingPlus()) else { return nil }
                exponent += power
                break
            } else {
                return nil
            }
            index = utf8.index(after: index)
        }
        guard digits != 0 else { return (0, 0) }
        while digits % 10 == 0 {
            digits /= 10
            exponent += 1
        }
        return (digits, exponent)
    }
}

extension String {
    fileprivate func replacingPlus() -> String { hasPrefix("+") ? String(dropFirst()) : self }
}
