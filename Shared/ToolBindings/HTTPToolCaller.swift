import HTTPClient
import JSON
import ToolRuntime

/// What one tool call did: its result or the failure that ended it, and how many requests it
/// took (for the step's record and the tests).
public struct ToolCallOutcome: Sendable, Equatable {
    public var result: Result<JSONValue, ToolCallFailure>
    public var attempts: Int
    public init(result: Result<JSONValue, ToolCallFailure>, attempts: Int) {
        self.result = result
        self.attempts = attempts
    }
}

/// Calls HTTP-bound tools through libcurl: one request per attempt, every attempt with the
/// step's id as `Idempotency-Key` (so an upstream that honours it applies a retried or
/// redelivered write once), retries under the contract's `RetryPolicy`, and the tool's circuit
/// breaker (keyed by tool name) consulted before each attempt.
public struct HTTPToolCaller: Sendable {
    let client: HTTPClient
    let secrets: [String: String]
    let breakers: CircuitBreaker
    let sleep: @Sendable (Duration) async throws -> Void

    public init(
        client: HTTPClient, secrets: [String: String], breakers: CircuitBreaker,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.client = client
        self.secrets = secrets
        self.breakers = breakers
        self.sleep = sleep
    }

    /// Throws only `CancellationError`; every other outcome is in the result. With a
    /// `deadline` (the turn's wall time), no attempt outlasts it and no retry starts after it:
    /// the call then ends as a timeout.
    public func call(
        tool: String, binding: HTTPBinding, arguments: JSONValue, idempotencyKey: String, timeout: Duration, retry: RetryPolicy,
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> ToolCallOutcome {
        var request: HTTPRequest
        do {
            request = try Self.request(for: binding, arguments: arguments, idempotencyKey: idempotencyKey, timeout: timeout, secrets: secrets)
        } catch {
            return ToolCallOutcome(result: .failure(error), attempts: 0)
        }
        var attempt = 0
        while true {
            guard breakers.allow(tool) else {
                return ToolCallOutcome(result: .failure(.circuitOpen), attempts: attempt)
            }
            if let deadline {
                let remaining = deadline - .now
                guard remaining > .milliseconds(10) else { return ToolCallOutcome(result: .failure(.timeout), attempts: attempt) }
                request.timeout = min(timeout, remaining)
            }
            attempt += 1
            let outcome = try await send(request)
            switch outcome {
            case .success(let value):
                breakers.recordSuccess(tool)
                return ToolCallOutcome(result: .success(value), attempts: attempt)
            case .failure(let failure):
                // A customer's bad request says the upstream is fine.
                if failure.countsAgainstUpstream { breakers.recordFailure(tool) } else { breakers.recordSuccess(tool) }
                guard let delay = retry.delay(after: failure, attempt: attempt), deadline.map({ .now + delay < $0 }) ?? true else {
                    return ToolCallOutcome(result: .failure(failure), attempts: attempt)
                }
                try await sleep(delay)
            }
        }
    }

    private func send(_ request: HTTPRequest) async throws -> Result<JSONValue, ToolCallFailure> {
        let response: HTTPResponse
        do {
            response = try await client.execute(request)
        } catch let error as HTTPClientError {
            switch error.code {
            case .cancelled: throw CancellationError()
            case .timeout: return .failure(.timeout)
            case .invalidRequest: return .failure(.invalidCall(error.message))
            default: return .failure(.transport(error.message))
            }
        }
        guard (200...299).contains(response.status) else {
            return .failure(.status(response.status, retryAfter: Self.retryAfter(response.header("retry-after"))))
        }
        if response.body.isEmpty { return .success(.null) }
        do {
            return .success(try JSONValue.parse(response.body))
        } catch {
            return .failure(.malformedResponse("the body is not JSON (\(error.description))"))
        }
    }

    /// The request a call would send, for `switchboard tools call --dry-run`: the secret's
    /// place shows the variable's name (`$SHOP_API_TOKEN`), never its value.
    public static func preview(_ binding: HTTPBinding, arguments: JSONValue, idempotencyKey: String, timeout: Duration) throws(ToolCallFailure) -> HTTPRequest {
        let placeholders = binding.auth.map { [$0.secretEnv: "$" + $0.secretEnv] } ?? [:]
        return try request(for: binding, arguments: arguments, idempotencyKey: idempotencyKey, timeout: timeout, secrets: placeholders)
    }

    /// `Retry-After` as delta-seconds; an HTTP-date (rare from APIs) is not honoured.
    static func retryAfter(_ value: String?) -> Duration? {
        guard let value, let seconds = Int(value.filter { $0 != " " && $0 != "\t" }), seconds >= 0 else { return nil }
        return .seconds(seconds)
    }

    /// The request for one call (no network).
    static func request(
        for binding: HTTPBinding, arguments: JSONValue, idempotencyKey: String, timeout: Duration, secrets: [String: String]
    ) throws(ToolCallFailure) -> HTTPRequest {
        guard case .object(var remaining) = arguments else { throw .invalidCall("arguments must be an object") }
        var url = ""
        var rest = Substring(binding.urlTemplate)
        while let open = rest.firstIndex(of: "{") {
            url += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else { throw .invalidCall("unclosed '{' in the URL template") }
            let name = String(rest[rest.index(after: open)..<close])
            guard let value = remaining.removeValue(forKey: name) else { throw .invalidCall("the URL needs argument '\(name)'") }
            guard let text = scalarText(value) else { throw .invalidCall("argument '\(name)' must be a string, number or boolean to go in the URL") }
            url += percentEncoded(text)
            rest = rest[rest.index(after: close)...]
        }
        url += rest
        var headers: HTTPHeaders = ["Accept": "application/json", "Idempotency-Key": idempotencyKey]
        for (name, value) in binding.headers.sorted(by: { $0.key < $1.key }) { headers.replaceOrAdd(name: name, value: value) }
        if let auth = binding.auth {
            guard let secret = secrets[auth.secretEnv], !secret.isEmpty else { throw .invalidCall("the secret variable \(auth.secretEnv) is not set") }
            headers.replaceOrAdd(name: auth.header, value: auth.scheme.map { "\($0) \(secret)" } ?? secret)
        }
        var body: [UInt8]? = nil
        var queryArguments: [String: JSONValue] = [:]
        if let names = binding.query {
            // An OpenAPI operation: named query parameters, and the body argument as the body.
            for name in names { if let value = remaining.removeValue(forKey: name) { queryArguments[name] = value } }
            if let bodyName = binding.bodyArgument, let value = remaining.removeValue(forKey: bodyName) {
                body = value.serialized()
                headers.replaceOrAdd(name: "Content-Type", value: "application/json")
            }
        } else if binding.method == "GET" || binding.method == "DELETE" {
            queryArguments = remaining
        } else {
            body = JSONValue.object(remaining).serialized()
            headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        }
        let query = queryArguments.sorted { $0.key < $1.key }.map { key, value in
            percentEncoded(key) + "=" + percentEncoded(scalarText(value) ?? value.serializedString())
        }
        if !query.isEmpty { url += (url.contains("?") ? "&" : "?") + query.joined(separator: "&") }
        return HTTPRequest(method: binding.method, url: url, headers: headers, body: body, timeout: timeout, connectTimeout: min(timeout, .seconds(5)))
    }

    static func scalarText(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): return text
        case .number, .bool: return value.serializedString()
        default: return nil
        }
    }

    /// RFC 3986: everything but unreserved characters is percent-encoded.
    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
