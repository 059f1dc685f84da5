/// Text as the published documents' JSON Schema counts it, so a handler's own checks agree with
/// the document on every input: whitespace is ECMA-262's `\s` (what `pattern: "\\S"` means),
/// lengths are in code points.
public enum DocumentText {
    public static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x20, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF: true
        default: false
        }
    }

    /// Empty or only whitespace.
    public static func isBlank(_ text: String) -> Bool { text.unicodeScalars.allSatisfy(isWhitespace) }
}
