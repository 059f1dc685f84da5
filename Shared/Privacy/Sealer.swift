import Crypto
import Foundation

/// A customer's 256-bit AES key. Customer text on the immutable log is sealed under it, so
/// destroying the key (crypto-shredding) makes that text unreadable forever while the log stays
/// intact.
///
/// Its `description` never shows the key bytes.
// `@unchecked` because swift-crypto 3.12 does not mark `SymmetricKey` Sendable; it is an immutable
// value (a `let` over copy-on-write bytes with no mutating API), so sharing it across tasks is safe.
public struct CustomerKey: @unchecked Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    /// The key length in bytes.
    public static let byteCount = 32

    /// The key for swift-crypto.
    public let symmetricKey: SymmetricKey

    /// A fresh random key.
    public static func generate() -> CustomerKey {
        CustomerKey(symmetricKey: SymmetricKey(size: .bits256))
    }

    /// A key from its stored bytes.
    /// - Throws: `SealingError.invalidKeyLength` unless `rawBytes` is exactly 32 bytes.
    public init(rawBytes: [UInt8]) throws {
        guard rawBytes.count == Self.byteCount else { throw SealingError.invalidKeyLength(rawBytes.count) }
        self.init(symmetricKey: SymmetricKey(data: rawBytes))
    }

    private init(symmetricKey: SymmetricKey) {
        self.symmetricKey = symmetricKey
    }

    /// The key's 32 bytes, to store in the key store. Handle with care: whoever has them can open
    /// everything sealed for this customer.
    public var rawBytes: [UInt8] {
        symmetricKey.withUnsafeBytes { Array($0) }
    }

    public var description: String { "CustomerKey(256 bits, not shown)" }

    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// Text sealed with AES-256-GCM under a customer key, as stored next to its redacted copy.
///
/// JSON: `{"alg": "A256GCM", "nonce": "<base64>", "ciphertext": "<base64>", "key_ref": "cust-42"}`.
/// `ciphertext` is the AES-GCM ciphertext followed by its 16-byte authentication tag (the tag is
/// not stored separately). `nonce` is the 12-byte GCM nonce. Base64 is standard, with padding.
public struct SealedText: Codable, Sendable, Equatable {
    /// The algorithm; always `A256GCM` (the JOSE name for AES-256-GCM).
    public var alg: String
    /// The base64 of the 12-byte nonce.
    public var nonce: String
    /// The base64 of the ciphertext followed by the 16-byte tag.
    public var ciphertext: String
    /// Which key sealed it, e.g. the id of the customer the key belongs to.
    public var keyRef: String

    /// The algorithm name this version writes and reads.
    public static let algorithm = "A256GCM"

    /// A sealed text as read back from storage; `Sealer.seal` is the usual source of these.
    public init(alg: String, nonce: String, ciphertext: String, keyRef: String) {
        self.alg = alg
        self.nonce = nonce
        self.ciphertext = ciphertext
        self.keyRef = keyRef
    }

    enum CodingKeys: String, CodingKey {
        case alg
        case nonce
        case ciphertext
        case keyRef = "key_ref"
    }
}

/// Why a text could not be sealed, opened, or given a key.
public enum SealingError: Error, Equatable, CustomStringConvertible {
    /// A customer key must be 32 bytes; this many were given.
    case invalidKeyLength(Int)
    /// The sealed text names an algorithm this version does not know.
    case unsupportedAlgorithm(String)
    /// A field (`nonce` or `ciphertext`) is not valid base64.
    case invalidBase64(field: String)
    /// A field decodes to the wrong number of bytes for AES-GCM: the nonce must be 12 bytes and
    /// the ciphertext at least the 16-byte tag.
    case invalidLength(field: String, byteCount: Int)
    /// AES-GCM authentication failed: the key is not the one that sealed it, the nonce, ciphertext
    /// or tag were altered, or the context differs from the one used when sealing. GCM cannot tell
    /// these apart, by design.
    case authenticationFailed
    /// The decrypted bytes are not UTF-8 (only possible for data not sealed by `Sealer`).
    case invalidUTF8

    public var description: String {
        switch self {
        case .invalidKeyLength(let count):
            "customer key must be 32 bytes, got \(count)"
        case .unsupportedAlgorithm(let alg):
            "unsupported sealing algorithm \"\(alg)\", expected \"\(SealedText.algorithm)\""
        case .invalidBase64(let field):
            "sealed text field \"\(field)\" is not valid base64"
        case .invalidLength(let field, let byteCount):
            "sealed text field \"\(field)\" has the wrong length (\(byteCount) bytes)"
        case .authenticationFailed:
            "sealed text failed authentication: wrong key, tampered nonce/ciphertext/tag, or a different context"
        case .invalidUTF8:
            "opened sealed text is not valid UTF-8"
        }
    }
}

/// Seals customer text under a customer key and opens it again, with AES-256-GCM.
///
/// `context` (for example the event id, or conversation id and message id) is authenticated
/// with the text but not stored in it: the caller supplies it again when opening, so a sealed
/// value copied into another event or conversation does not open there.
public enum Sealer {
    static let nonceByteCount = 12
    static let tagByteCount = 16

    /// Seals `text` under `key` with a fresh random nonce, binding it to `context`.
    /// - Parameter keyRef: stored in clear to say which key opens it, e.g. the customer id.
    public static func seal(_ text: String, key: CustomerKey, keyRef: String, context: String) throws -> SealedText {
        let box = try AES.GCM.seal(Data(text.utf8), using: key.symmetricKey, nonce: AES.GCM.Nonce(), authenticating: Data(context.utf8))
        return SealedText(
            alg: SealedText.algorithm,
            nonce: Data(box.nonce).base64EncodedString(),
            ciphertext: (box.ciphertext + box.tag).base64EncodedString(),
            keyRef: keyRef
        )
    }

    /// Opens a sealed text with `key`, checking it was sealed for `context`.
    /// - Throws: `SealingError`; `.authenticationFailed` for a wrong key, tampering, or another context.
    public static func open(_ sealed: SealedText, key: CustomerKey, context: String) throws -> String {
        guard sealed.alg == SealedText.algorithm else { throw SealingError.unsupportedAlgorithm(sealed.alg) }
        guard let nonceBytes = Data(base64Encoded: sealed.nonce) else { throw SealingError.invalidBase64(field: "nonce") }
        guard let sealedBytes = Data(base64Encoded: sealed.ciphertext) else { throw SealingError.invalidBase64(field: "ciphertext") }
        guard nonceBytes.count == nonceByteCount else {
            throw SealingError.invalidLength(field: "nonce", byteCount: nonceBytes.count)
        }
        guard sealedBytes.count >= tagByteCount else {
            throw SealingError.invalidLength(field: "ciphertext", byteCount: sealedBytes.count)
        }
        let plaintext: Data
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: nonceBytes),
                ciphertext: sealedBytes.prefix(sealedBytes.count - tagByteCount),
                tag: sealedBytes.suffix(tagByteCount)
            )
            plaintext = try AES.GCM.open(box, using: key.symmetricKey, authenticating: Data(context.utf8))
        } catch {
            // Lengths were checked above, so what is left is GCM refusing the tag.
            throw SealingError.authenticationFailed
        }
        guard let text = String(data: plaintext, encoding: .utf8) else { throw SealingError.invalidUTF8 }
        return text
    }
}
