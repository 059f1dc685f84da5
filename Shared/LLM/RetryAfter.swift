#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPClient

/// Parses the wait a server asks for before the next request.
public enum RetryAfter {
    /// `retry-after-ms` (OpenAI, milliseconds) wins over `Retry-After`; a date in the past is zero.
    public static func parse(_ headers: HTTPHeaders, now: Date = Date()) -> Duration? {
        if let text = headers["retry-after-ms"], let milliseconds = Double(text.trimmingWhitespace), milliseconds.isFinite, milliseconds >= 0 {
            return .milliseconds(Int64(min(milliseconds, 1e12).rounded(.up)))
        }
        return headers["retry-after"].flatMap { parse(headerValue: $0, now: now) }
    }

    /// One `Retry-After` value: delay-seconds (decimals tolerated) or an HTTP-date in any of the
    /// three formats RFC 9110 §5.6.7 requires recipients to accept. `nil` when unparseable.
    public static func parse(headerValue: String, now: Date = Date()) -> Duration? {
        let value = headerValue.trimmingWhitespace
        if let seconds = Double(String(value)) {
            guard seconds.isFinite, seconds >= 0 else { return nil }
            return .milliseconds(Int64((min(seconds, 1e9) * 1000).rounded(.up)))
        }
        guard let epochSeconds = httpDateEpochSeconds(String(value)) else { return nil }
        let delta = Double(epochSeconds) - now.timeIntervalSince1970
        return delta > 0 ? .milliseconds(Int64((delta * 1000).rounded(.up))) : .zero
    }

    /// Seconds since 1970 for `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate),
    /// `Sunday, 06-Nov-94 08:49:37 GMT` (RFC 850) or `Sun Nov  6 08:49:37 1994` (asctime).
    static func httpDateEpochSeconds(_ text: String) -> Int64? {
        let tokens = text[...].split(whereSeparator: { $0 == " " || $0 == "," || $0 == "-" })
        guard tokens.count >= 5 else { return nil }
        let day: Substring, month: Substring, year: Substring, time: Substring
        if monthNumber(tokens[1]) != nil {
            (month, day, time, year) = (tokens[1], tokens[2], tokens[3], tokens[4])  // asctime
        } else {
            guard tokens.count == 6, tokens[5] == "GMT" else { return nil }
            (day, month, year, time) = (tokens[1], tokens[2], tokens[3], tokens[4])
        }
        let clock = time.split(separator: ":")
        guard
            let monthValue = monthNumber(month),
            let dayValue = Int(day), (1...31).contains(dayValue),
            var yearValue = Int(year), yearValue >= 0,
            clock.count == 3,
            let hour = Int(clock[0]), (0..<24).contains(hour),
            let minute = Int(clock[1]), (0..<60).contains(minute),
            let second = Int(clock[2]), (0...60).contains(second)
        else { return nil }
        if year.count == 2 { yearValue += yearValue < 70 ? 2000 : 1900 }  // RFC 850's two-digit years
        let days = daysFromCivil(year: yearValue, month: monthValue, day: dayValue)
        return Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    private static func monthNumber(_ name: Substring) -> Int? {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return months.firstIndex(of: String(name)).map { $0 + 1 }
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

extension StringProtocol {
    var trimmingWhitespace: SubSequence {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }
}
