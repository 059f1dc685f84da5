/// A kind of personal data the detector recognises. The raw values are the stable names used in
/// events, logs and metrics.
public enum PIIKind: String, CaseIterable, Sendable, Codable, CodingKeyRepresentable {
    case email
    case phone
    case paymentCard = "payment_card"
    case iban
    case usSSN = "us_ssn"
    case aadhaar
    case pan

    /// The text that replaces a value of this kind in redacted output, e.g. `[EMAIL]`.
    public var placeholder: String {
        switch self {
        case .email: "[EMAIL]"
        case .phone: "[PHONE]"
        case .paymentCard: "[CARD]"
        case .iban: "[IBAN]"
        case .usSSN: "[SSN]"
        case .aadhaar: "[AADHAAR]"
        case .pan: "[PAN]"
        }
    }
}

/// One piece of personal data found in a text.
///
/// Its `description` and mirror leave the matched value out, so a finding that ends up in a log
/// line or a test failure message does not leak what it was meant to protect.
public struct PIIFinding: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    /// What kind of personal data this is.
    public let kind: PIIKind
    /// Where it is in the text that was scanned.
    public let range: Range<String.Index>
    /// The matched text, exactly as it appears in the scanned text.
    public let text: String

    /// Creates a finding; the detector is the usual source of these.
    public init(kind: PIIKind, range: Range<String.Index>, text: String) {
        self.kind = kind
        self.range = range
        self.text = text
    }

    public var description: String { "PIIFinding(\(kind.rawValue), \(text.count) characters)" }

    public var customMirror: Mirror { Mirror(self, children: ["kind": kind], displayStyle: .struct) }
}

/// A text with its personal data replaced by placeholders, and how many values of each kind were
/// replaced. It never holds the replaced values.
///
/// JSON: `{"text": "Mail me at [EMAIL]", "replacements": {"email": 1}}`.
public struct RedactedText: Sendable, Equatable, Codable {
    /// The text with each replaced value swapped for its kind's placeholder.
    public let text: String
    /// How many values of each kind were replaced; kinds with none are absent.
    public let replacements: [PIIKind: Int]

    /// Creates a redacted text; `PIIDetector.redact(_:allowing:)` is the usual source of these.
    public init(text: String, replacements: [PIIKind: Int]) {
        self.text = text
        self.replacements = replacements
    }

    /// The kinds of personal data that were replaced.
    public var kinds: Set<PIIKind> { Set(replacements.keys) }

    /// How many values were replaced in all.
    public var replacementCount: Int { replacements.values.reduce(0, +) }
}
