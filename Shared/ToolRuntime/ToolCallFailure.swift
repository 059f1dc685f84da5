/// How a call to a tool outside the executor's database (HTTP, OpenAPI, MCP) failed, and what
/// the executor does about it. The classification is the contract between the bindings and
/// the retry, breaker and planner logic, so it lives in one place.
public enum ToolCallFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// No answer within the contract's timeout.
    case timeout
    /// Could not connect, or the connection dropped before a full answer.
    case transport(String)
    /// The upstream answered with a non-2xx status. `retryAfter` from a `Retry-After` header.
    case status(Int, retryAfter: Duration?)
    /// A 2xx answer that is not what the contract promises (not JSON, or the wrong shape).
    case malformedResponse(String)
    /// Refused without a call: the tool's circuit is open.
    case circuitOpen
    /// Refused without a call: the tool's own rate limit has no token for longer than the call
    /// may wait.
    case rateLimited(wait: Duration)
    /// The call could not be built (a binding that does not fit the arguments, a missing
    /// secret): a configuration problem, nothing was sent.
    case invalidCall(String)
    /// The tool ran and reported a failure of its own (an MCP result with `isError`): the
    /// customer can be told, and repeating the same call would fail the same way.
    case toolError(String)

    public enum Disposition: Sendable, Equatable {
        /// Transient: try again under the retry policy.
        case retry
        /// The request itself is wrong (4xx other than 408 and 429): the customer can fix it, so
        /// it goes back to the planner as a tool error, never retried.
        case customerFixable
        /// Not transient and not the customer's: the step fails.
        case fail
    }

    public var disposition: Disposition {
        switch self {
        case .timeout, .transport: return .retry
        case .status(let code, _):
            if code == 408 || code == 429 || (500...599).contains(code) { return .retry }
            if (400...499).contains(code) { return .customerFixable }
            return .fail
        case .malformedResponse, .circuitOpen, .rateLimited, .invalidCall: return .fail
        case .toolError: return .customerFixable
        }
    }

    /// Whether it says something about the upstream's health (counts towards opening the
    /// circuit). A customer's bad request does not, nor does a call that was never sent.
    public var countsAgainstUpstream: Bool {
        switch self {
        case .circuitOpen, .rateLimited, .invalidCall, .toolError: return false
        default: return disposition != .customerFixable
        }
    }

    public var retryAfter: Duration? {
        if case .status(_, let retryAfter) = self { return retryAfter }
        return nil
    }

    /// A stable code for `ToolFailed.error.code`.
    public var code: String {
        switch self {
        case .timeout: return "timeout"
        case .transport: return "upstream_unreachable"
        case .status(let code, _) where code == 429: return "rate_limited"
        case .status(let code, _) where (500...599).contains(code): return "upstream_error"
        case .status: return "rejected_request"
        case .malformedResponse: return "malformed_response"
        case .circuitOpen: return "circuit_open"
        case .rateLimited: return "rate_limited"
        case .invalidCall: return "invalid_call"
        case .toolError: return "tool_error"
        }
    }

    public var description: String {
        switch self {
        case .timeout: return "timed out"
        case .transport(let detail): return "transport error: \(detail)"
        case .status(let code, let retryAfter): return "HTTP \(code)" + (retryAfter.map { " (Retry-After \($0))" } ?? "")
        case .malformedResponse(let detail): return "malformed response: \(detail)"
        case .circuitOpen: return "circuit open: the tool failed repeatedly and is resting"
        case .rateLimited(let wait): return "rate limited: the next call is allowed in \(wait)"
        case .invalidCall(let detail): return "invalid call: \(detail)"
        case .toolError(let detail): return "the tool reported an error: \(detail)"
        }
    }
}
