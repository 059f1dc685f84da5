import HTTPClient

/// Why a chat completion failed.
///
/// `message` and `description` never contain API keys or request headers: provider error
/// bodies are truncated and scrubbed of the configured key before they get here.
public struct LLMError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// HTTP 429 (also quota exhaustion, which is not retriable).
        case rateLimited
        /// HTTP 5xx (Anthropic's 529 "overloaded" included), or the connection broke mid-response.
        case serverError
        /// The attempt exceeded `ChatRequest.timeout` (or HTTP 408).
        case timeout
        /// No connection: refused, unreachable, DNS or TLS failure.
        case connectFailed
        /// The provider rejected the request (400, 404, 413, 422...): fix the request, not retry.
        case badRequest
        /// HTTP 401/403: missing, wrong or under-privileged key.
        case authentication
        /// A 2xx response this client could not interpret, e.g. invalid JSON or tool-call
        /// arguments that are not JSON (see `rawText`).
        case malformedResponse
        /// The model or the provider's content filter declined to answer.
        case refused
        /// The calling task was cancelled (or the HTTP client shut down).
        case cancelled
        /// Rejected locally before sending (e.g. an unusable base URL).
        case invalidRequest
        case other
    }

    public var code: Code
    public var httpStatus: Int?
    /// How long the provider asked us to wait (`retry-after-ms`, `Retry-After` seconds or date).
    public var retryAfter: Duration?
    public var isRetriable: Bool
    public var message: String
    public var provider: ProviderKind?
    public var providerRequestId: String?
    /// Tokens the failed call still consumed, when the provider reported them (refusals,
    /// malformed tool arguments): they are billed, so cost accounting needs them.
    public var usage: TokenUsage?
    /// The offending model output for `.malformedResponse` / `.refused` (e.g. the raw tool-call
    /// arguments), so a caller can ask the model to repair it.
    public var rawText: String?
    /// The transport failure underneath, when there was no HTTP response.
    public var transportError: HTTPClientError?
    /// Wall time of the failed attempt, when one was made.
    public var latency: Duration?
    /// Earlier failures that ``RetryingProvider`` retried before giving up with this one.
    public var failedAttempts: [FailedAttempt]

    public init(
        code: Code,
        message: String,
        isRetriable: Bool? = nil,
        httpStatus: Int? = nil,
        retryAfter: Duration? = nil,
        provider: ProviderKind? = nil,
        providerRequestId: String? = nil,
        usage: TokenUsage? = nil,
        rawText: String? = nil,
        transportError: HTTPClientError? = nil,
        latency: Duration? = nil,
        failedAttempts: [FailedAttempt] = []
    ) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable ?? code.isRetriableByDefault
        self.httpStatus = httpStatus
        self.retryAfter = retryAfter
        self.provider = provider
        self.providerRequestId = providerRequestId
        self.usage = usage
        self.rawText = rawText
        self.transportError = transportError
        self.latency = latency
        self.failedAttempts = failedAttempts
    }

    /// Attempts made, this failure included.
    public var attempts: Int { failedAttempts.count + 1 }

    public var description: String {
        var parts = [code.rawValue]
        if let httpStatus { parts.append("HTTP \(httpStatus)") }
        if let retryAfter { parts.append("retry after \(retryAfter)") }
        if isRetriable { parts.append("retriable") }
        if !failedAttempts.isEmpty { parts.append("\(attempts) attempts") }
        let prefix = provider.map { "\($0.rawValue): " } ?? ""
        return "LLMError(\(parts.joined(separator: ", "))): \(prefix)\(message)"
    }
}

extension LLMError.Code {
    /// Transient conditions; the provider's answer may differ next time.
    var isRetriableByDefault: Bool {
        switch self {
        case .rateLimited, .serverError, .timeout, .connectFailed: true
        case .badRequest, .authentication, .malformedResponse, .refused, .cancelled, .invalidRequest, .other: false
        }
    }
}

/// A failed attempt that was retried.
public struct FailedAttempt: Sendable {
    public var error: LLMError
    /// The wait before the next attempt.
    public var backoff: Duration

    public init(error: LLMError, backoff: Duration) {
        self.error = error
        self.backoff = backoff
    }
}
