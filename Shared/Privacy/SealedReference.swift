import Crypto
public import Foundation

/// A placeholder on the log that stands for one sealed value: `[PHONE#3f9a2b1c]`. The id is
/// derived from the message's event id, the kind and the value's ordinal among that kind in the
/// message, so the executor can find the value in the sealed original without anything else
/// being stored in clear (docs/SECURITY.md, unsealing for tools).
public struct SealedReference: Hashable, Sendable, CustomStringConvertible {
    public let kind: PIIKind
    /// Eight lowercase hex digits.
    public let id: String

    public init(kind: PIIKind, messageID: UUID, ordinal: Int) {
        self.kind = kind
        let digest = SHA256.hash(data: Data("\(messageID.uuidString.lowercased())/\(kind.rawValue)/\(ordinal)".utf8))
        id = digest.prefix(4).map { String(format: "%02x", $0) }.joined()
    }

    init(kind: PIIKind, id: String) {
        self.kind = kind
        self.id = id
    }

    /// What stands in the text: the kind's placeholder with the id, `[PHONE#3f9a2b1c]`.
    public var placeholder: String { String(kind.placeholder.dropLast()) + "#" + id + "]" }
    public var description: String { placeholder }

    /// Every reference in `text`, in order.
    public static func all(in text: String) -> [SealedReference] {
        let range = NSRange(text.startIndex..., in: text)
        return pattern.matches(in: text, range: range).compactMap { match in
            guard let tag = Range(match.range(at: 1), in: text), let id = Range(match.range(at: 2), in: text),
                  let kind = PIIKind.allCases.first(where: { $0.placeholder == "[" + text[tag] + "]" })
            else { return nil }
            return SealedReference(kind: kind, id: String(text[id]))
        }
    }

    /// `text` with every reference replaced by `replacement(reference)` (nil keeps it).
    public static func replacing(in text: String, _ replacement: (SealedReference) -> String?) -> String {
        var result = ""
        var rest = text[...]
        while let open = rest.firstIndex(of: "[") {
            result += rest[..<open]
            let candidate = rest[open...]
            if let close = candidate.firstIndex(of: "]"), let reference = all(in: String(candidate[...close])).first,
               reference.placeholder == String(candidate[...close]) {
                result += replacement(reference) ?? reference.placeholder
                rest = candidate[candidate.index(after: close)...]
            } else {
                result += "["
                rest = candidate.dropFirst()
            }
        }
        return result + rest
    }

    // Fixed and compiled once; NSRegularExpression is thread-safe.
    nonisolated(unsafe) static let pattern = try! NSRegularExpression(pattern: #"\[(EMAIL|PHONE|CARD|IBAN|SSN|AADHAAR|PAN)#([0-9a-f]{8})\]"#)
}

extension PIIKind {
    /// How a reply names a value it cannot show (it is sealed): "your phone number".
    public var sealedDisplay: String {
        switch self {
        case .email: "your email address"
        case .phone: "your phone number"
        case .paymentCard: "your card"
        case .iban: "your bank account"
        case .usSSN: "your social security number"
        case .aadhaar: "your Aadhaar number"
        case .pan: "your PAN"
        }
    }
}
