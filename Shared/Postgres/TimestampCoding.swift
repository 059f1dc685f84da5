import Foundation

/// Text codec for timestamptz / timestamp / date in DateStyle=ISO. Hand-written because
/// DateFormatter is slow, locale-sensitive and cannot express BC years or >4-digit years;
/// calendar math is proleptic Gregorian, like Postgres (Howard Hinnant's civil algorithms).
enum TimestampCoding {
    private static let microsPerDay: Int64 = 86_400_000_000

    static func encode(_ date: Date) -> String {
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        // Far beyond Postgres' range (294276 AD); send infinity rather than trap on overflow.
        guard micros.magnitude < 9.0e18 else { return micros < 0 ? "-infinity" : "infinity" }
        let total = Int64(micros)
        var days = total / microsPerDay
        var rem = total % microsPerDay
        if rem < 0 {
            rem += microsPerDay
            days -= 1
        }
        let (year, month, day) = civil(fromDays: days)
        let hour = rem / 3_600_000_000
        let minute = (rem / 60_000_000) % 60
        let second = (rem / 1_000_000) % 60
        let fraction = rem % 1_000_000

        let bc = year <= 0
        var text = pad(bc ? 1 - year : year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
        text += " " + pad(hour, 2) + ":" + pad(minute, 2) + ":" + pad(second, 2)
        if fraction != 0 { text += "." + pad(fraction, 6) }
        text += "+00"
        if bc { text += " BC" }
        return text
    }

    /// Parses the server's output for timestamptz, timestamp (taken as UTC) and date.
    static func decode(_ text: String) -> Date? {
        switch text {
        case "infinity": return .distantFuture
        case "-infinity": return .distantPast
        default: break
        }
        var bytes = Array(text.utf8)
        var bc = false
        if bytes.count > 3, bytes.suffix(3).elementsEqual(" BC".utf8) {
            bc = true
            bytes.removeLast(3)
        }
        var scanner = ByteScanner(bytes: bytes)
        guard var year = scanner.integer(), scanner.consume(UInt8(ascii: "-")),
            let month = scanner.integer(exactDigits: 2), scanner.consume(UInt8(ascii: "-")),
            let day = scanner.integer(exactDigits: 2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        if bc { year = 1 - year }

        var micros: Int64 = 0
        var offsetSeconds: Int64 = 0
        if scanner.consume(UInt8(ascii: " ")) || scanner.consume(UInt8(ascii: "T")) {
            guard let hour = scanner.integer(exactDigits: 2), scanner.consume(UInt8(ascii: ":")),
                let minute = scanner.integer(exactDigits: 2), scanner.consume(UInt8(ascii: ":")),
                let second = scanner.integer(exactDigits: 2),
                hour <= 24, minute < 60, second < 61
            else { return nil }
            var fraction: Int64 = 0
            if scanner.consume(UInt8(ascii: ".")) {
                var digits = 0
                while let digit = scanner.digit() {
                    if digits < 6 { fraction = fraction * 10 + digit }
                    digits += 1
                }
                guard digits > 0 else { return nil }
                for _ in digits..<max(digits, 6) { fraction *= 10 }
            }
            micros = ((hour * 60 + minute) * 60 + second) * 1_000_000 + fraction
            if let signByte = scanner.peek(), signByte == UInt8(ascii: "+") || signByte == UInt8(ascii: "-") {
                scanner.advance()
                guard let oh = scanner.integer(exactDigits: 2) else { return nil }
                var om: Int64 = 0
                var os: Int64 = 0
                if scanner.consume(UInt8(ascii: ":")) {
                    guard let m = scanner.integer(exactDigits: 2) else { return nil }
                    om = m
                    if scanner.consume(UInt8(ascii: ":")) {
                        guard let s = scanner.integer(exactDigits: 2) else { return nil }
                        os = s
                    }
                }
                offsetSeconds = (oh * 3600 + om * 60 + os) * (signByte == UInt8(ascii: "-") ? -1 : 1)
            }
        }
        guard scanner.atEnd else { return nil }
        let days = days(fromCivil: year, month, day)
        // Split whole seconds and fraction to keep Double precision for distant dates.
        let seconds = days * 86_400 + micros / 1_000_000 - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + Double(micros % 1_000_000) / 1_000_000)
    }

    static func days(fromCivil y: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y - 1 : y
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

struct ByteScanner {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }
    func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }
    mutating func advance() { index += 1 }

    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    mutating func digit() -> Int64? {
        guard let b = peek(), b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
        index += 1
        return Int64(b - UInt8(ascii: "0"))
    }

    /// Unsigned decimal; `exactDigits` enforces a fixed width. At most 9 digits (no overflow).
    mutating func integer(exactDigits: Int? = nil) -> Int64? {
        var value: Int64 = 0
        var count = 0
        while count < (exactDigits ?? 9), let d = digit() {
            value = value * 10 + d
            count += 1
        }
        if count == 0 { return nil }
        if let exactDigits, count != exactDigits { return nil }
        return value
    }
}
