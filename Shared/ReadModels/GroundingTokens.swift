import Foundation
public import JSON

/// The checkable facts in a text: identifiers (order ids, invoice and tracking numbers, phone
/// numbers), amounts of money, dates and email addresses, each in one canonical form so that
/// "USD 80.00" in a reply matches `80` in a tool result and "25 Nov 2026" matches "2026-11-25".
/// A reply may only state such facts when they came from the conversation (the customer, a
/// tool, a human agent), from the knowledge base, or from the pack's own texts.
public enum GroundingTokens {
    /// Every token in `text`: `id:ABC123`, `amount:80.00`, `date:2026-11-25`, `email:a***@example.com`.
    public static func extract(_ text: String) -> Set<String> {
        var tokens = Set<String>()
        var rest = text
        // Dates and amounts first, removed from the text so their digits are not read as ids.
        for (pattern, make) in patterns {
            let range = NSRange(rest.startIndex..., in: rest)
            var spans: [Range<String.Index>] = []
            for match in pattern.matches(in: rest, range: range) {
                if let token = make(match, rest) { tokens.insert(token) }
                if let span = Range(match.range, in: rest) { spans.append(span) }
            }
            for span in spans.reversed() { rest.replaceSubrange(span, with: " ") }
        }
        for word in rest.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "-") }) {
            let trimmed = word.trimmingCharacters(in: CharacterSet(charactersIn: "-"))
            guard trimmed.count >= 5, trimmed.allSatisfy({ $0.isASCII }) else { continue }
            let digits = trimmed.filter(\.isNumber).count
            let letters = trimmed.filter(\.isLetter).count
            if (digits > 0 && letters > 0) || (letters == 0 && digits >= 6) { tokens.insert("id:" + trimmed.uppercased()) }
        }
        return tokens
    }

    /// Every token in a tool result: its strings read as text, its numbers as amounts (and long
    /// integers as ids too).
    public static func extract(_ value: JSONValue) -> Set<String> {
        switch value {
        case .string(let text): return extract(text)
        case .number(let number):
            var tokens: Set<String> = [amount(number)]
            if number == number.rounded(), abs(number) >= 100_000, abs(number) < 1e15 { tokens.insert("id:" + String(Int64(number))) }
            return tokens
        case .array(let items): return items.reduce(into: Set<String>()) { $0.formUnion(extract($1)) }
        case .object(let members): return members.values.reduce(into: Set<String>()) { $0.formUnion(extract($1)) }
        case .bool, .null: return []
        }
    }

    static func amount(_ value: Double) -> String { "amount:" + String(format: "%.2f", value) }

    // MARK: Arguments of writes (docs/SECURITY.md, grounding rule)

    /// The facts a write's arguments state, each to be found in the customer's words or a tool
    /// result: a phone number as `phone:<last 9 digits>` (the customer types it in any national
    /// form, the tool gets E.164), a bare number as an amount (`"amount": "20.00"`, `20`), and
    /// the identifiers, amounts, dates and emails of any other text.
    public static func extractArguments(_ value: JSONValue) -> Set<String> {
        switch value {
        case .string(let text):
            if let phone = phone(text) { return [phone] }
            if let number = bareNumber(text) { return [amount(number)] }
            return extract(text)
        case .number(let number): return [amount(number)]
        case .array(let items): return items.reduce(into: Set<String>()) { $0.formUnion(extractArguments($1)) }
        case .object(let members): return members.values.reduce(into: Set<String>()) { $0.formUnion(extractArguments($1)) }
        case .bool, .null: return []
        }
    }

    /// The facts a customer's message gives for arguments: what `extract` finds, plus every
    /// bare number as an amount ("top up 20", "refund 35") and every phone-like run of digits as
    /// a phone number ("07700 900123").
    public static func extractCustomerFacts(_ text: String) -> Set<String> {
        var tokens = extract(text)
        let range = NSRange(text.startIndex..., in: text)
        for match in phoneRun.matches(in: text, range: range) {
            if let run = group(match, 0, text), let token = phone(run) { tokens.insert(token) }
        }
        for match in bareNumberPattern.matches(in: text, range: range) {
            if let run = group(match, 0, text), let number = bareNumber(run) { tokens.insert(amount(number)) }
        }
        return tokens
    }

    /// The facts a tool result gives for arguments: what `extract` finds, plus its phone numbers.
    public static func extractResultFacts(_ value: JSONValue) -> Set<String> {
        switch value {
        case .string(let text): return extract(text).union(phone(text).map { [$0] } ?? [])
        case .array(let items): return items.reduce(into: Set<String>()) { $0.formUnion(extractResultFacts($1)) }
        case .object(let members): return members.values.reduce(into: Set<String>()) { $0.formUnion(extractResultFacts($1)) }
        default: return extract(value)
        }
    }

    /// `phone:<last 9 digits>` when the whole text is a phone number of 8 to 15 digits.
    static func phone(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.wholeMatch(of: /\+?[0-9][0-9 ()\-]{6,22}[0-9]/) != nil else { return nil }
        let digits = trimmed.filter(\.isASCII).filter(\.isNumber)
        guard (8...15).contains(digits.count), trimmed.hasPrefix("+") || trimmed.hasPrefix("0") || digits.count >= 10 else { return nil }
        return "phone:" + String(digits.suffix(9))
    }

    static func bareNumber(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.wholeMatch(of: /[0-9]{1,7}(\.[0-9]{1,2})?/) != nil else { return nil }
        return Double(trimmed)
    }

    nonisolated(unsafe) static let phoneRun = try! NSRegularExpression(pattern: #"\+?\b[0-9][0-9 ()\-]{6,22}[0-9]\b"#)
    nonisolated(unsafe) static let bareNumberPattern = try! NSRegularExpression(pattern: #"(?<![0-9.,])[0-9]{1,7}(?:\.[0-9]{1,2})?(?![0-9]|[.,][0-9])"#)

    static let months = ["jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12]

    static func date(_ year: String, _ month: Int, _ day: String) -> String? {
        guard let d = Int(day), (1...31).contains(d), (1...12).contains(month) else { return nil }
        return "date:\(year)-\(month < 10 ? "0" : "")\(month)-\(d < 10 ? "0" : "")\(d)"
    }

    static func group(_ match: NSTextCheckingResult, _ index: Int, _ text: String) -> String? {
        Range(match.range(at: index), in: text).map { String(text[$0]) }
    }

    // The regular expressions are fixed and compiled once; NSRegularExpression is thread-safe.
    nonisolated(unsafe) static let patterns: [(NSRegularExpression, (NSTextCheckingResult, String) -> String?)] = [
        (try! NSRegularExpression(pattern: #"[A-Za-z0-9._%+*-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"#), { match, text in
            group(match, 0, text).map { "email:" + $0.lowercased() }
        }),
        (try! NSRegularExpression(pattern: #"\b(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.]+Z?)?"#), { match, text in
            guard let year = group(match, 1, text), let month = group(match, 2, text).flatMap({ Int($0) }), let day = group(match, 3, text) else { return nil }
            return date(year, month, day)
        }),
        (try! NSRegularExpression(pattern: #"\b(\d{1,2})(?:st|nd|rd|th)?\s+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?,?\s+(\d{4})\b"#, options: [.caseInsensitive]), { match, text in
            guard let day = group(match, 1, text), let month = group(match, 2, text).flatMap({ months[$0.lowercased()] }), let year = group(match, 3, text) else { return nil }
            return date(year, month, day)
        }),
        (try! NSRegularExpression(pattern: #"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b"#, options: [.caseInsensitive]), { match, text in
            guard let month = group(match, 1, text).flatMap({ months[$0.lowercased()] }), let day = group(match, 2, text), let year = group(match, 3, text) else { return nil }
            return date(year, month, day)
        }),
        // Money: a currency sign or code, or a number with two decimals.
        (try! NSRegularExpression(pattern: #"(?:[$£€]\s?|\b(?:USD|GBP|EUR|INR|Rs\.?)\s?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?|\b(\d+)\.(\d{2})\b"#), { match, text in
            let whole = group(match, 1, text) ?? group(match, 3, text)
            let cents = group(match, 2, text) ?? group(match, 4, text) ?? "0"
            guard let whole, let value = Double(whole.replacingOccurrences(of: ",", with: "") + "." + cents) else { return nil }
            return amount(value)
        }),
    ]
}
