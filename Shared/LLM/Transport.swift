import HTTPClient
import JSON

/// What both providers share: one POST with latency measurement, transport and HTTP error
/// mapping, and secret scrubbing of anything quoted from the provider.
struct ProviderTransport: Sendable {
    let kind: ProviderKind
    let httpClient: HTTPClient
    /// Values that must never appear in an error message.
    let secrets: [String]

    static let maxQuotedCharacters = 500

    struct Reply {
        var response: HTTPResponse
        var latency: Duration
        var requestId: String?
    }

    func post(url: String, headers: HTTPHeaders, body: JSONValue, timeout: Duration, requestIdHeader: String) async throws(LLMError) -> Reply {
        let request = HTTPRequest(
            method: "POST",
            url: url,
            headers: headers,
            // Schemas (response formats, tool parameters) list their properties in the order of
            // `required`: grammar-constrained decoding emits them in the order given, so a model
            // writes `intent` before `explain` (docs/BRAINS.md).
            body: body.serialized(keyOrder: .schema),
            timeout: timeout,
            connectTimeout: min(timeout, .seconds(10))
        )
        let clock = ContinuousClock()
        let start = clock.now
        let response: HTTPResponse
        do {
            response = try await httpClient.execute(request)
        } catch {
            throw transportFailure(error, latency: clock.now - start)
        }
        return Reply(response: response, latency: clock.now - start, requestId: response.header(requestIdHeader))
    }

    private func transportFailure(_ error: any Error, latency: Duration) -> LLMError {
        guard let error = error as? HTTPClientError else {
            // `execute` documents HTTPClientError only; anything else is a contract change.
            return LLMError(code: .other, message: scrub("\(type(of: error)): \(error)"), provider: kind, latency: latency)
        }
        let code: LLMError.Code = switch error.code {
        case .timeout: .timeout
        case .connectFailed, .dns, .tls: .connectFailed
        case .protocolError: .serverError
        case .tooLarge: .malformedResponse
        case .cancelled: .cancelled
        case .invalidRequest: .invalidRequest
        case .other: .other
        }
        return LLMError(
            code: code,
            message: scrub(error.message),
            isRetriable: code == .cancelled ? false : error.isRetriable,
            provider: kind,
            transportError: error,
            latency: latency
        )
    }

    /// Maps a non-2xx response. Error bodies of OpenAI, Anthropic, vLLM, llama.cpp and Ollama
    /// all carry a message in `error.message`, `error` or `message`.
    func httpFailure(_ reply: Reply) -> LLMError {
        let status = reply.response.status
        let parsed = try? JSONValue.parse(reply.response.body)
        let error = parsed?["error"]
        let type = error?["type"]?.stringValue ?? parsed?["type"]?.stringValue
        let errorCode = error?["code"]?.stringValue
        var text = error?["message"]?.stringValue ?? error?.stringValue ?? parsed?["message"]?.stringValue
            ?? String(decoding: reply.response.body, as: UTF8.self)
        if text.isEmpty { text = "(empty body)" }
        let details = [type.map { "type \($0)" }, errorCode.map { "code \($0)" }].compactMap { $0 }
        if !details.isEmpty { text += " (\(details.joined(separator: ", ")))" }

        var code: LLMError.Code
        var retriable: Bool?
        switch status {
        case 401, 403: code = .authentication
        case 408: code = .timeout
        case 429:
            code = .rateLimited
            // OpenAI's exhausted-credit 429 will not clear by waiting: let a router move on.
            if errorCode == "insufficient_quota" || type == "insufficient_quota" { retriable = false }
        case 400..<500: code = .badRequest
        case 500..<600: code = .serverError
        default: code = .other
        }
        if errorCode == "content_filter" || errorCode == "content_policy_violation" {
            code = .refused
            retriable = nil
        }
        return LLMError(
            code: code,
            message: "HTTP \(status): " + quote(text),
            isRetriable: retriable,
            httpStatus: status,
            retryAfter: RetryAfter.parse(reply.response.headers),
            provider: kind,
            providerRequestId: reply.requestId,
            latency: reply.latency
        )
    }

    /// A 2xx body that does not mean what it should.
    func malformed(_ message: String, _ reply: Reply, usage: TokenUsage? = nil, rawText: String? = nil) -> LLMError {
        LLMError(
            code: .malformedResponse,
            message: scrub(message),
            httpStatus: reply.response.status,
            provider: kind,
            providerRequestId: reply.requestId,
            usage: usage,
            rawText: rawText.map(scrub),
            latency: reply.latency
        )
    }

    /// The model or the provider's filter declined; the tokens are still billed.
    func refused(_ message: String, _ reply: Reply, usage: TokenUsage?, rawText: String?) -> LLMError {
        LLMError(
            code: .refused,
            message: scrub(message),
            httpStatus: reply.response.status,
            provider: kind,
            providerRequestId: reply.requestId,
            usage: usage,
            rawText: rawText.map(scrub),
            latency: reply.latency
        )
    }

    /// Parses a 2xx body as a JSON object.
    func parseObject(_ reply: Reply) throws(LLMError) -> JSONValue {
        let json: JSONValue
        do {
            json = try JSONValue.parse(reply.response.body)
        } catch {
            let body = String(decoding: reply.response.body, as: UTF8.self)
            throw malformed("response body is not JSON (\(error)): \(quote(body))", reply, rawText: body)
        }
        guard case .object = json else {
            throw malformed("response body is not a JSON object: \(quote(json.description))", reply)
        }
        return json
    }

    /// Scrubbed and truncated, for quoting provider text inside a message.
    func quote(_ text: String) -> String {
        let clean = scrub(text)
        guard clean.count > Self.maxQuotedCharacters else { return clean }
        return clean.prefix(Self.maxQuotedCharacters) + "… [\(clean.count - Self.maxQuotedCharacters) more characters]"
    }

    /// Some providers echo the offending key in 401 bodies.
    func scrub(_ text: String) -> String {
        var text = text
        for secret in secrets where !secret.isEmpty {
            text = text.replacing(secret, with: "<redacted>")
        }
        return text
    }
}

/// The API key, plus extra header values long enough to be credentials: scrubbing short
/// values such as `1` would mangle every message while protecting nothing.
func secretsToScrub(apiKey: String?, extraHeaders: HTTPHeaders) -> [String] {
    [apiKey].compactMap { $0 } + extraHeaders.map(\.value).filter { $0.count >= 8 }
}

/// `base` without a trailing slash, followed by `path`.
func joinURL(_ base: String, _ path: String) -> String {
    var base = base[...]
    while base.hasSuffix("/") { base = base.dropLast() }
    return base + path
}

/// Scheme, host, port and path only: userinfo and query strings can carry credentials.
func redactedURL(_ url: String) -> String {
    var rest = url[...]
    var scheme = ""
    if let range = rest.firstRange(of: "://") {
        scheme = String(rest[..<range.upperBound])
        rest = rest[range.upperBound...]
    }
    if let cut = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<cut] }
    let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
    if let at = rest[..<authorityEnd].lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
    return scheme + rest
}

/// Keeps a secret out of `description`, `dump` and string interpolation.
struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let value: String

    init?(_ value: String?) {
        guard let value, !value.isEmpty else { return nil }
        self.value = value
    }

    var description: String { "<redacted>" }
    var debugDescription: String { "<redacted>" }
    var customMirror: Mirror { Mirror(self, children: [:]) }
}

extension JSONValue {
    /// Integer member, tolerating servers that send counts as `12.0`.
    func int(_ key: String) -> Int? { self[key]?.intValue }
}
