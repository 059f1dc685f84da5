import Foundation

/// Base64url without padding (RFC 7515 §2), the encoding of every JWS part.
enum Base64URL {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes strict unpadded base64url; `nil` for anything else (padding, `+`, `/`, spaces).
    static func decode(_ text: some StringProtocol) -> Data? {
        var base64 = ""
        base64.reserveCapacity(text.utf8.count + 3)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "A"..."Z", "a"..."z", "0"..."9": base64.unicodeScalars.append(scalar)
            case "-": base64.append("+")
            case "_": base64.append("/")
            default: return nil
            }
        }
        switch base64.utf8.count % 4 {
        case 0: break
        case 2: base64 += "=="
        case 3: base64 += "="
        default: return nil
        }
        return Data(base64Encoded: base64)
    }
}

/// Decodes a secret written in standard base64 or base64url, padded or not, as people paste
/// them into configuration.
func decodeLenientBase64(_ text: String) -> Data? {
    let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
    var standard = trimmed.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while standard.hasSuffix("=") { standard.removeLast() }
    switch standard.utf8.count % 4 {
    case 2: standard += "=="
    case 3: standard += "="
    case 1: return nil
    default: break
    }
    return Data(base64Encoded: standard)
}
