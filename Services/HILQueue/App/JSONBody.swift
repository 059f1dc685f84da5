import APIContract
import Foundation
import Hummingbird
import JSON
import NIOCore
import ServiceRuntime

/// A request's JSON object body, read with a size limit, with problem+json for what is not
/// asked for: 415 for another content type, 413 over the limit, 400 for anything but an
/// object, 422 for an unknown field or a field of the wrong shape (named in `field`).
struct JSONBody {
    let object: [String: JSONValue]

    /// `emptyAllowed`: an empty body reads as `{}` (a claim by the agent the token names).
    static func read(_ request: Request, maxBytes: Int = 8 * 1024, allowed: Set<String>, emptyAllowed: Bool = false) async throws -> JSONBody {
        if let contentType = request.headers[.contentType], !contentType.lowercased().hasPrefix("application/json") {
            throw ProblemDetails(.unsupportedMediaType, kind: "unsupported-media-type", title: "Body must be application/json")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw ProblemDetails(.contentTooLarge, kind: "body-too-large", title: "Body larger than \(maxBytes) bytes")
        }
        if emptyAllowed, buffer.readableBytes == 0 { return JSONBody(object: [:]) }
        guard case .object(let object)? = try? JSONValue.parse(Array(buffer: buffer)) else {
            throw ProblemDetails(.badRequest, kind: "invalid-json", title: "Body must be a JSON object")
        }
        for name in object.keys.sorted() where !allowed.contains(name) {
            throw ProblemDetails(.unprocessableContent, kind: "unknown-field", title: "Unknown field \(name)", field: name)
        }
        return JSONBody(object: object)
    }

    /// An identifier-like string: 1 to 128 characters, no line breaks.
    func identifier(_ key: String) throws -> String {
        guard let value = try optionalIdentifier(key) else { throw Self.invalidIdentifier(key) }
        return value
    }

    /// `invalid-agent` for `agent_id`, `invalid-to-queue` for `to_queue`.
    static func invalidIdentifier(_ key: String) -> ProblemDetails {
        let name = key.hasSuffix("_id") ? String(key.dropLast(3)) : key
        return ProblemDetails(
            .unprocessableContent, kind: "invalid-" + name.replacingOccurrences(of: "_", with: "-"), title: "\(key) must be a string of 1 to 128 characters", field: key)
    }

    func optionalIdentifier(_ key: String) throws -> String? {
        switch object[key] {
        case nil, .null?: return nil
        // Lengths in code points, as the published document counts them; no line breaks.
        case .string(let value)? where (1...128).contains(value.unicodeScalars.count) && !value.unicodeScalars.contains(where: Self.isLineBreak): return value
        default:
            throw Self.invalidIdentifier(key)
        }
    }

    /// The line breaks an identifier may not hold (the document's pattern lists the same).
    static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool { [0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029].contains(scalar.value) }

    /// Free text of at most `max` characters; `required` text must not be blank.
    func text(_ key: String, required: Bool, max: Int = 2000) throws -> String {
        switch object[key] {
        case .string(let text)? where text.unicodeScalars.count <= max && !(required && DocumentText.isBlank(text)):
            return text
        case nil where !required:
            return ""
        default:
            throw ProblemDetails(
                .unprocessableContent, kind: "invalid-\(key)",
                title: required ? "\(key) must be text of 1 to \(max) characters" : "\(key) must be a string of at most \(max) characters", field: key)
        }
    }
}
