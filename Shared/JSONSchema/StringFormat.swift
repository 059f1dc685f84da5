/// The `format` values the validator can assert (draft 2020-12 format-assertion vocabulary),
/// checked only when a schema is compiled with `JSONSchema.Options.formatAssertion`; otherwise,
/// as the specification says, `format` is an annotation. Unknown formats always pass.
enum StringFormat: String, Sendable, CaseIterable {
    case dateTime = "date-time"
    case date
    case time
    case email
    case uuid
    case uri
    case ipv4
    case ipv6

    /// The standard the string is checked against, for error messages.
    var standard: String {
        switch self {
        case .dateTime, .date, .time: "RFC 3339"
        case .email: "RFC 5321"
        case .uuid: "RFC 4122"
        case .uri: "RFC 3986"
        case .ipv4: "RFC 2673 dotted quad"
        case .ipv6: "RFC 4291"
        }
    }

    func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        switch self {
        case .dateTime: return Self.dateTime(bytes)
        case .date: return Self.fullDate(bytes[...]) != nil && bytes.count == 10
        case .time: return Self.fullTime(bytes[...])
        case .email: return Self.email(bytes)
        case .uuid: return Self.uuid(bytes)
        case .uri: return Self.uri(text)
        case .ipv4: return Self.ipv4(bytes[...])
        case .ipv6: return Self.ipv6(bytes)
        }
    }

    // MARK: RFC 3339

    private static func digits(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return bytes.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    private static func isLeapYear(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    /// `YYYY-MM-DD` with a real day of that month; returns (year, month, day).
    static func fullDate(_ bytes: ArraySlice<UInt8>) -> (Int, Int, Int)? {
        guard bytes.count == 10 else { return nil }
        let b = Array(bytes)
        guard b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              let year = digits(b[0..<4]), let month = digits(b[5..<7]), let day = digits(b[8..<10]),
              (1...12).contains(month) else { return nil }
        let days = [31, isLeapYear(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day) ? (year, month, day) : nil
    }

    /// `hh:mm:ss[.frac](Z|±hh:mm)`. A leap second (60) is valid only where it is 23:59:60 UTC.
    static func fullTime(_ bytes: ArraySlice<UInt8>) -> Bool {
        let b = Array(bytes)
        guard b.count >= 9, b[2] == UInt8(ascii: ":"), b[5] == UInt8(ascii: ":"),
              let hour = digits(b[0..<2]), let minute = digits(b[3..<5]), let second = digits(b[6..<8]),
              hour <= 23, minute <= 59, second <= 60 else { return false }
        var index = 8
        if index < b.count, b[index] == UInt8(ascii: ".") {
            let start = index + 1
            index = start
            while index < b.count, b[index] >= 0x30, b[index] <= 0x39 { index += 1 }
            guard index > start else { return false }
        }
        guard index < b.count else { return false }
        var offsetMinutes = 0
        switch b[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard index + 1 == b.count else { return false }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard b.count - index == 6, b[index + 3] == UInt8(ascii: ":"),
                  let offsetHour = digits(b[(index + 1)..<(index + 3)]), let offsetMinute = digits(b[(index + 4)..<(index + 6)]),
                  offsetHour <= 23, offsetMinute <= 59 else { return false }
            offsetMinutes = (offsetHour * 60 + offsetMinute) * (b[index] == UInt8(ascii: "+") ? 1 : -1)
        default:
            return false
        }
        if second == 60 {
            // The leap second is at 23:59:60 UTC: undo the offset.
            let utc = ((hour * 60 + minute - offsetMinutes) % 1440 + 1440) % 1440
            return utc == 23 * 60 + 59
        }
        return true
    }

    static func dateTime(_ bytes: [UInt8]) -> Bool {
        guard bytes.count > 11, [UInt8(ascii: "T"), UInt8(ascii: "t")].contains(bytes[10]) else { return false }
        return fullDate(bytes[0..<10]) != nil && fullTime(bytes[11...])
    }

    // MARK: RFC 4122

    static func uuid(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return false }
            } else if !isHex(byte) {
                return false
            }
        }
        return true
    }

    private static func isHex(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
    }

    // MARK: IP addresses

    /// Four decimal parts 0–255, no leading zeros, ASCII digits only.
    static func ipv4(_ bytes: ArraySlice<UInt8>) -> Bool {
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { part in
            guard (1...3).contains(part.count), let value = digits(part), value <= 255 else { return false }
            return part.count == 1 || part.first != UInt8(ascii: "0")
        }
    }

    /// Up to eight groups of 1–4 hex digits, `::` at most once for one or more zero groups, and
    /// an optional trailing dotted quad counting as two groups. No zone id.
    static func ipv6(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty, bytes.count <= 45 else { return false }
        let text = bytes[...]
        let doubleColon = text.indices.dropLast().filter { text[$0] == UInt8(ascii: ":") && text[$0 + 1] == UInt8(ascii: ":") }
        guard doubleColon.count <= 1 else { return false }
        func groups(_ part: ArraySlice<UInt8>, allowIPv4Tail: Bool) -> Int? {
            if part.isEmpty { return 0 }
            let pieces = part.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            var count = 0
            for (index, piece) in pieces.enumerated() {
                if allowIPv4Tail, index == pieces.count - 1, piece.contains(UInt8(ascii: ".")) {
                    guard ipv4(piece) else { return nil }
                    count += 2
                } else {
                    guard (1...4).contains(piece.count), piece.allSatisfy(isHex) else { return nil }
                    count += 1
                }
            }
            return count
        }
        if let at = doubleColon.first {
            guard let left = groups(text[..<at], allowIPv4Tail: false), let right = groups(text[(at + 2)...], allowIPv4Tail: true) else { return false }
            return left + right <= 7
        }
        return groups(text, allowIPv4Tail: true) == 8
    }

    // MARK: RFC 5321 mailbox

    static func email(_ bytes: [UInt8]) -> Bool {
        guard let at = bytes.lastIndex(of: UInt8(ascii: "@")), at > 0, at < bytes.count - 1 else { return false }
        let local = bytes[..<at], domain = bytes[(at + 1)...]
        guard local.count <= 64, domain.count <= 255 else { return false }
        return localPart(local) && emailDomain(domain)
    }

    private static let atext = Set(Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~".utf8))

    private static func localPart(_ local: ArraySlice<UInt8>) -> Bool {
        if local.first == UInt8(ascii: "\""), local.count >= 2, local.last == UInt8(ascii: "\"") {
            // quoted-string: printable ASCII, with `\` escaping the next character.
            var escaped = false
            for byte in local.dropFirst().dropLast() {
                if escaped { escaped = false; continue }
                if byte == UInt8(ascii: "\\") { escaped = true; continue }
                guard byte >= 0x20, byte <= 0x7E, byte != UInt8(ascii: "\"") else { return false }
            }
            return !escaped
        }
        // dot-atom: atoms of atext joined by single dots.
        let atoms = local.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return atoms.allSatisfy { !$0.isEmpty && $0.allSatisfy(atext.contains) }
    }

    private static func emailDomain(_ domain: ArraySlice<UInt8>) -> Bool {
        if domain.first == UInt8(ascii: "["), domain.last == UInt8(ascii: "]") {
            let literal = domain.dropFirst().dropLast()
            let prefix = Array("IPv6:".utf8)
            if literal.starts(with: prefix) { return ipv6(Array(literal.dropFirst(prefix.count))) }
            return ipv4(literal)
        }
        return hostname(domain)
    }

    /// Labels of letters, digits and hyphens (not at either end), 1–63 bytes each.
    static func hostname(_ bytes: ArraySlice<UInt8>) -> Bool {
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return !labels.isEmpty && labels.allSatisfy { label in
            (1...63).contains(label.count) && label.first != UInt8(ascii: "-") && label.last != UInt8(ascii: "-")
                && label.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == UInt8(ascii: "-") }
        }
    }

    // MARK: RFC 3986

    /// An absolute URI: `scheme:` then a hierarchical part whose characters are all allowed
    /// (percent signs only as `%XX`); with `//`, the authority's host is a name, an IPv4
    /// address or a bracketed IPv6 address, and its port is digits.
    static func uri(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return false }
        let scheme = bytes[..<colon]
        guard let first = scheme.first, (first >= 0x41 && first <= 0x5A) || (first >= 0x61 && first <= 0x7A),
              scheme.allSatisfy({ isAlphaNumeric($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }) else { return false }
        let rest = bytes[(colon + 1)...]
        let allowed = Set(Array("-._~!$&'()*+,;=:@/?#[]".utf8))
        var index = rest.startIndex
        while index < rest.endIndex {
            let byte = rest[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < rest.endIndex, isHex(rest[index + 1]), isHex(rest[index + 2]) else { return false }
                index += 3
                continue
            }
            guard isAlphaNumeric(byte) || allowed.contains(byte) else { return false }
            index += 1
        }
        // `#` at most once, `[` `]` only around an IPv6 host.
        guard rest.filter({ $0 == UInt8(ascii: "#") }).count <= 1 else { return false }
        guard rest.starts(with: Array("//".utf8)) else { return !rest.contains(UInt8(ascii: "[")) && !rest.contains(UInt8(ascii: "]")) }
        let afterSlashes = rest.dropFirst(2)
        let authorityEnd = afterSlashes.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? afterSlashes.endIndex
        var authority = afterSlashes[..<authorityEnd]
        if let at = authority.lastIndex(of: UInt8(ascii: "@")) { authority = authority[(at + 1)...] }
        var host = authority
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return false }
            host = authority[authority.startIndex...close]
            let port = authority[(close + 1)...]
            guard port.isEmpty || (port.first == UInt8(ascii: ":") && port.dropFirst().allSatisfy { $0 >= 0x30 && $0 <= 0x39 }) else { return false }
            return ipv6(Array(host.dropFirst().dropLast()))
        }
        if let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            guard authority[(colon + 1)...].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
            host = authority[..<colon]
        }
        guard !afterSlashes[authorityEnd...].contains(UInt8(ascii: "[")) else { return false }
        return host.isEmpty || ipv4(host) || host.allSatisfy { isAlphaNumeric($0) || Set(Array("-._~!$&'()*+,;=%".utf8)).contains($0) }
    }

    private static func isAlphaNumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }
}
