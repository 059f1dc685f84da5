import Foundation

/// A compiled `pattern` / `patternProperties` regular expression.
///
/// JSON Schema patterns are ECMA-262 regexes; we run them on ICU (NSRegularExpression) after
/// rewriting the constructs whose meaning differs, so that a schema means the same thing here
/// as in a JavaScript validator:
/// - `$` is end of input (ICU also matches before a final newline, which would let
///   `"ABC123\n"` pass `^[A-Z0-9]{6}$`);
/// - `\d \w \s \b` and their negations use ECMA's ASCII/ECMA definitions, not Unicode's;
/// - `[` and `&` inside a class are literals (ICU reads them as set operations);
/// - `[^]` matches any character; `\u{...}` is a code point escape.
/// Remaining differences: ICU accepts some syntax ECMA rejects (possessive quantifiers,
/// `\Q...\E`, set operations written explicitly), and matching has no backtracking budget, so
/// pathological patterns (`(a+)+$`) can be slow on hostile strings; keep schema patterns simple.
struct Pattern: Sendable {
    let source: String
    private let regex: NSRegularExpression

    init(_ source: String) throws(PatternSyntaxError) {
        self.source = source
        do {
            regex = try NSRegularExpression(pattern: Self.translate(source), options: [])
        } catch {
            throw PatternSyntaxError()
        }
    }

    /// Whether the pattern matches anywhere in `string` (patterns are not implicitly anchored).
    func matches(_ string: String) -> Bool {
        let range = NSRange(location: 0, length: string.utf16.count)
        return regex.rangeOfFirstMatch(in: string, options: [], range: range).location != NSNotFound
    }

    private static let wordClass = "a-zA-Z0-9_"
    private static let spaceClass = "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"

    /// Rewrites ECMA-262 syntax into ICU syntax with the same meaning (see the type comment).
    static func translate(_ pattern: String) throws(PatternSyntaxError) -> String {
        let chars = Array(pattern.unicodeScalars)
        var out = ""
        var index = 0
        var inClass = false
        while index < chars.count {
            let c = chars[index]
            if c == "\\" {
                guard index + 1 < chars.count else { throw PatternSyntaxError() }
                let next = chars[index + 1]
                index += 2
                switch next {
                case "d": out += inClass ? "0-9" : "[0-9]"
                case "D": out += "[^0-9]"
                case "w": out += inClass ? wordClass : "[\(wordClass)]"
                case "W": out += "[^\(wordClass)]"
                case "s": out += inClass ? spaceClass : "[\(spaceClass)]"
                case "S": out += "[^\(spaceClass)]"
                case "b":
                    if inClass {
                        out += "\\x{08}"
                    } else {
                        out += "(?:(?<=[\(wordClass)])(?![\(wordClass)])|(?<![\(wordClass)])(?=[\(wordClass)]))"
                    }
                case "B":
                    out += "(?:(?<=[\(wordClass)])(?=[\(wordClass)])|(?<![\(wordClass)])(?![\(wordClass)]))"
                case "u" where index < chars.count && chars[index] == "{":
                    // \u{1F600} -> \x{1F600}
                    guard let close = chars[index...].firstIndex(of: "}") else { throw PatternSyntaxError() }
                    out += "\\x{" + String(String.UnicodeScalarView(chars[(index + 1)..<close])) + "}"
                    index = close + 1
                default:
                    out.unicodeScalars.append("\\")
                    out.unicodeScalars.append(next)
                }
                continue
            }
            index += 1
            if inClass {
                switch c {
                case "]": inClass = false; out += "]"
                case "[": out += "\\["
                case "&": out += "\\&"
                case "$": out += "\\$"
                default: out.unicodeScalars.append(c)
                }
            } else {
                switch c {
                case "[":
                    if index + 1 < chars.count, chars[index] == "^", chars[index + 1] == "]" {
                        out += "(?s:.)"
                        index += 2
                    } else if index < chars.count, chars[index] == "]" {
                        // ECMA "[]" never matches.
                        out += "(?!)"
                        index += 1
                    } else {
                        inClass = true
                        out += "["
                        if index < chars.count, chars[index] == "^" {
                            out += "^"
                            index += 1
                        }
                    }
                case "$": out += "\\z"
                default: out.unicodeScalars.append(c)
                }
            }
        }
        if inClass { throw PatternSyntaxError() }
        return out
    }
}

struct PatternSyntaxError: Error {}
