import Foundation
import HTTPClient
import LLM
import Synchronization
import Testing

/// Answers from a script, without HTTP: for retry policy edge cases.
private final class ScriptedProvider: ChatProvider {
    let kind = ProviderKind(rawValue: "scripted")
    private let script: Mutex<[Result<ChatResponse, LLMError>]>
    private let calls = Mutex(0)

    init(_ script: [Result<ChatResponse, LLMError>]) {
        self.script = Mutex(script)
    }

    var callCount: Int { calls.withLock { $0 } }

    func complete(_ request: ChatRequest) async throws(LLMError) -> ChatResponse {
        calls.withLock { $0 += 1 }
        let next = script.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        guard let next else { throw LLMError(code: .other, message: "script exhausted") }
        return try next.get()
    }
}

private let okResponse = ChatResponse(content: "ok", finishReason: .stop, usage: nil, model: "m", latency: .milliseconds(1))
private let request = ChatRequest(model: "m", messages: [.user("hi")])

@Suite("Retry policy")
struct RetryLogicTests {
    @Test("backoff doubles up to maxBackoff and stays in the upper half of the nominal wait")
    func backoffCapped() async throws {
        let provider = ScriptedProvider(Array(repeating: .failure(LLMError(code: .serverError, message: "boom")), count: 6) + [.success(okResponse)])
        let sleeps = SleepRecorder()
        let retrying = RetryingProvider(
            wrapping: provider, maxAttempts: 7, baseBackoff: .seconds(1), maxBackoff: .seconds(4), sleep: sleeps.sleep)
        let response = try await retrying.complete(request)
        #expect(response.attempts == 7)
        let nominal: [Duration] = [.seconds(1), .seconds(2), .seconds(4), .seconds(4), .seconds(4), .seconds(4)]
        #expect(sleeps.durations.count == nominal.count)
        for (wait, cap) in zip(sleeps.durations, nominal) {
            #expect(wait >= cap / 2 && wait <= cap)
        }
    }

    @Test("non-retriable errors are returned at once")
    func nonRetriable() async throws {
        for code in [LLMError.Code.badRequest, .authentication, .malformedResponse, .refused, .cancelled] {
            let provider = ScriptedProvider([.failure(LLMError(code: code, message: "no")), .success(okResponse)])
            let sleeps = SleepRecorder()
            let retrying = RetryingProvider(wrapping: provider, maxAttempts: 3, sleep: sleeps.sleep)
            let error = try #require(await expectLLMError { () async throws(LLMError) in try await retrying.complete(request) })
            #expect(error.code == code)
            #expect(provider.callCount == 1)
            #expect(sleeps.durations.isEmpty)
        }
    }

    @Test("cancellation while backing off ends with cancelled, keeping the failed attempts")
    func cancelledDuringBackoff() async throws {
        let provider = ScriptedProvider([.failure(LLMError(code: .timeout, message: "slow")), .success(okResponse)])
        let retrying = RetryingProvider(wrapping: provider, maxAttempts: 3, sleep: { _ in throw CancellationError() })
        let error = try #require(await expectLLMError { () async throws(LLMError) in try await retrying.complete(request) })
        #expect(error.code == .cancelled)
        #expect(!error.isRetriable)
        #expect(error.failedAttempts.map(\.error.code) == [.timeout])
        #expect(provider.callCount == 1)
    }
}

@Suite("Retry-After parsing")
struct RetryAfterTests {
    /// 1994-11-06T08:49:37Z
    static let epoch: TimeInterval = 784_111_777

    @Test("delay-seconds, decimals, and the three HTTP-date formats", arguments: [
        ("120", Duration.seconds(120)),
        (" 0 ", .zero),
        ("1.5", .milliseconds(1500)),
        ("Sun, 06 Nov 1994 08:50:07 GMT", .seconds(30)),
        ("Sunday, 06-Nov-94 08:50:07 GMT", .seconds(30)),
        ("Sun Nov  6 08:50:07 1994", .seconds(30)),
        ("Sun, 06 Nov 1994 08:00:00 GMT", .zero),
    ])
    func parses(value: String, expected: Duration) {
        #expect(RetryAfter.parse(headerValue: value, now: Date(timeIntervalSince1970: Self.epoch)) == expected)
    }

    @Test("garbage and negative values are ignored", arguments: ["", "soon", "-5", "Sun, 06 Nov 1994 25:00:00 GMT", "nan"])
    func rejects(value: String) {
        #expect(RetryAfter.parse(headerValue: value) == nil)
    }

    @Test("retry-after-ms takes precedence over Retry-After")
    func milliseconds() {
        let headers: HTTPHeaders = ["Retry-After": "10", "retry-after-ms": "250"]
        #expect(RetryAfter.parse(headers) == .milliseconds(250))
        #expect(RetryAfter.parse(["Retry-After": "10"]) == .seconds(10))
        #expect(RetryAfter.parse([:]) == nil)
    }
}
