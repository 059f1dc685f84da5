/// Wraps retrieved text for a prompt so the model can tell quoted material from instructions:
///
///     <<<UNTRUSTED source="returns/refunds.md">>>
///     …text…
///     <<<END UNTRUSTED>>>
///
/// The text cannot close the fence early or open a fake one: every run of three or more `<`
/// or `>` in it becomes `‹`/`›` characters, so the body never contains `<<<` or `>>>` (hence
/// no marker in any letter case). In `source`, `&`, `"`, `<`, `>` become entities and control
/// characters (newlines) spaces, so the attribute stays on the opening line.
public func untrustedFence(_ text: String, source: String) -> String {
    let header = UntrustedFence.open + UntrustedFence.escapeAttribute(source) + "\">>>"
    return header + "\n" + UntrustedFence.neutralize(text) + "\n" + UntrustedFence.close
}

/// The fence markers, for prompts that explain them to the model.
public enum UntrustedFence {
    public static let open = "<<<UNTRUSTED source=\""
    public static let close = "<<<END UNTRUSTED>>>"

    static func neutralize(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let scalar = scalars[i]
            guard scalar == "<" || scalar == ">" else {
                out.append(scalar)
                i += 1
                continue
            }
            var j = i
            while j < scalars.count, scalars[j] == scalar { j += 1 }
            let replacement: Unicode.Scalar = j - i >= 3 ? (scalar == "<" ? "\u{2039}" : "\u{203A}") : scalar
            for _ in i..<j { out.append(replacement) }
            i = j
        }
        return String(out)
    }

    static func escapeAttribute(_ source: String) -> String {
        var out = ""
        for scalar in source.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default:
                if scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}" {
                    out += " "
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
