import Logging
import Tracing

/// A libcurl-backed HTTP/1.1 + HTTP/2 client for LLM provider and tool calls.
///
/// Transfers run on at most `maxConcurrentRequests` dedicated threads (never on
/// Swift's cooperative pool); further requests queue FIFO. Only http/https,
/// redirects off unless requested, proxies from the usual `*_proxy`
/// environment variables. Cancelling the calling task aborts its transfer.
///
/// Call `shutdown()` before dropping the last reference; `deinit` only starts
/// the shutdown (it cannot wait for the worker threads).
public final class HTTPClient: Sendable {
    private let pool: TransferPool
    private let logger: Logger

    public init(maxConcurrentRequests: Int = 8, userAgent: String = "switchboard", logger: Logger) {
        precondition(maxConcurrentRequests > 0, "maxConcurrentRequests must be positive")
        self.pool = TransferPool(maxThreads: maxConcurrentRequests, userAgent: userAgent)
        self.logger = logger
    }

    deinit {
        pool.beginShutdown()
    }

    /// Sends `request` and returns the complete response, whatever its status.
    ///
    /// - Throws: always `HTTPClientError` — `.cancelled` if the task is
    ///   cancelled (promptly, mid-transfer too) or the client is shut down.
    ///
    /// Runs in a client span (a no-op unless a tracer is installed) whose context goes out in
    /// the request's `traceparent`, so an upstream that traces continues the turn's trace.
    public func execute(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await withSpan("HTTP \(request.method)", ofKind: .client) { span in
            span.attributes["http.request.method"] = request.method
            span.attributes["server.address"] = String(hostForLogging(request.url))
            var request = request
            if let context = ServiceContext.current, !request.headers.contains(name: "traceparent") {
                InstrumentationSystem.instrument.inject(context, into: &request.headers, using: TraceHeaderInjector())
            }
            let response = try await executeUntraced(request)
            span.attributes["http.response.status_code"] = response.status
            if response.status >= 500 { span.setStatus(SpanStatus(code: .error)) }
            return response
        }
    }

    func executeUntraced(_ request: HTTPRequest) async throws -> HTTPResponse {
        var logger = self.logger
        logger[metadataKey: "http.method"] = "\(request.method)"
        logger[metadataKey: "http.host"] = "\(hostForLogging(request.url))"
        do {
            try Self.validate(request)
            let job = TransferJob(request: request)
            let pool = self.pool
            let response = try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                    if job.install(continuation) {
                        pool.submit(job)
                    }
                }
            } onCancel: {
                job.cancel()
                pool.dequeueIfQueued(job)
            }
            logger.trace("HTTP request completed", metadata: [
                "http.status": "\(response.status)", "http.response_bytes": "\(response.body.count)",
            ])
            return response
        } catch let error as HTTPClientError {
            logger.debug("HTTP request failed", metadata: [
                "error.code": "\(error.code.rawValue)",
                "error.curl_code": "\(error.curlCode.map(String.init) ?? "-")",
                "error.message": "\(error.message)",
            ])
            throw error
        }
    }

    /// Sends `request` on the calling thread and waits for the complete response. For code
    /// that must not wait on async work: loading a domain pack is synchronous and can run on a
    /// thread of the concurrency pool, where blocking on an async call could deadlock the pool.
    /// Each call opens its own connection; use `execute` everywhere else.
    public static func executeBlocking(_ request: HTTPRequest, userAgent: String = "switchboard") throws(HTTPClientError) -> HTTPResponse {
        try validate(request)
        guard let worker = CurlWorker(userAgent: userAgent) else { throw HTTPClientError(code: .other, message: "libcurl could not be initialised", isRetriable: false) }
        return try worker.perform(TransferJob(request: request)).get()
    }

    /// Fails queued requests, aborts running ones (`.cancelled`) and returns
    /// once every worker thread has released its libcurl handles. Idempotent;
    /// later `execute` calls fail with `.cancelled`.
    public func shutdown() async {
        await pool.shutdown()
        logger.debug("HTTP client shut down")
    }

    /// Rejects input libcurl would silently mangle: embedded NULs (C strings)
    /// and CR/LF in the method or headers (header injection).
    private static func validate(_ request: HTTPRequest) throws(HTTPClientError) {
        guard !request.url.isEmpty, !request.url.utf8.contains(where: { $0 == 0 || $0 == 0x0D || $0 == 0x0A }) else {
            throw .invalidRequest("URL is empty or contains control characters")
        }
        guard isToken(request.method) else {
            throw .invalidRequest("invalid HTTP method")
        }
        for field in request.headers {
            guard isToken(field.name) else {
                throw .invalidRequest("invalid header name")
            }
            guard !field.value.utf8.contains(where: { $0 == 0 || $0 == 0x0D || $0 == 0x0A }) else {
                throw .invalidRequest("header \(field.name) contains control characters")
            }
        }
        guard request.maxResponseBytes > 0 else {
            throw .invalidRequest("maxResponseBytes must be positive")
        }
        guard request.timeout > .zero, request.connectTimeout > .zero else {
            throw .invalidRequest("timeouts must be positive")  // 0 means "none" to libcurl
        }
    }
}

/// RFC 9110 `token` (method and header-name syntax).
private func isToken(_ string: String) -> Bool {
    !string.isEmpty && string.utf8.allSatisfy { byte in
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

/// Host part only: paths, queries and userinfo may carry credentials.
/// Writes trace headers (`traceparent`, `tracestate`) into a request's headers.
struct TraceHeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.remove(name: key)
        carrier.add(name: key, value: value)
    }
}

func hostForLogging(_ url: String) -> Substring {
    var rest = url[...]
    if let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") {
        rest = rest[rest.index(colon, offsetBy: 3)...]
    }
    if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
    if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
    return rest
}
