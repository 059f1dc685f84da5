/// A transfer that produced no HTTP response. (Non-2xx statuses are responses, not errors.)
///
/// `message` comes from libcurl's error buffer (host names and ports at most,
/// never request headers or bodies).
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// Connect or total timeout elapsed.
        case timeout
        /// TCP connect refused/unreachable, or the proxy could not be reached.
        case connectFailed
        /// Host (or proxy) name could not be resolved.
        case dns
        /// Body exceeded `HTTPRequest.maxResponseBytes`.
        case tooLarge
        /// The calling task was cancelled, or the client was shut down.
        case cancelled
        /// TLS handshake or certificate verification failed.
        case tls
        /// The connection broke mid-exchange or the peer did not speak valid HTTP.
        case protocolError
        /// Refused before or by libcurl: bad URL, non-http(s) scheme, malformed header/method.
        case invalidRequest
        case other
    }

    public var code: Code
    /// The libcurl `CURLcode`, when libcurl produced the error.
    public var curlCode: Int32?
    public var message: String
    /// Whether the same request may succeed if sent again later (transient
    /// network conditions). Says nothing about idempotency of the request.
    public var isRetriable: Bool

    public init(code: Code, curlCode: Int32? = nil, message: String, isRetriable: Bool) {
        self.code = code
        self.curlCode = curlCode
        self.message = message
        self.isRetriable = isRetriable
    }

    public var description: String {
        var text = "HTTPClientError(\(code.rawValue)"
        if let curlCode { text += ", curl \(curlCode)" }
        return text + (isRetriable ? ", retriable): " : "): ") + message
    }

    static func invalidRequest(_ message: String) -> HTTPClientError {
        HTTPClientError(code: .invalidRequest, message: message, isRetriable: false)
    }

    static func cancelled(_ message: String = "request cancelled") -> HTTPClientError {
        HTTPClientError(code: .cancelled, message: message, isRetriable: false)
    }
}
