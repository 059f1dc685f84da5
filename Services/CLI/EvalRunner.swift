import DevStack
import Evaluation
import Events
import Foundation
import HTTPClient
import JSON
import Logging

/// Plays a suite's scripted customers against a platform over its public HTTP APIs: messages
/// to the gateway, the conversation's events back from the gateway's read API, approval
/// decisions to HILQueue. A turn ends at the first of: a reply delivered, a handover, an
/// approval nobody in the scenario decides, or the turn timeout (unanswered).
struct EvalRunner: Sendable {
    struct Platform: Sendable {
        var gateway: String
        var hilqueue: String?
        var broker: ManagedProcess?
        var faults: FaultPlan
        /// Bearer token for both APIs: an administrator of the tenant the scenarios run in.
        var token: String
    }

    /// A request, retried after the server's Retry-After when it is rate limited (429), as a
    /// well-behaved client does (up to 5 times).
    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        var attempt = 0
        while true {
            let response = try await http.execute(request)
            attempt += 1
            guard response.status == 429, attempt < 5 else { return response }
            let seconds = response.header("retry-after").flatMap(Double.init) ?? 1
            try await Task.sleep(for: .seconds(min(max(seconds, 0.1), 10)))
        }
    }

    /// Headers of every request: the platform's token, and JSON for bodies.
    var headers: HTTPHeaders { ["content-type": "application/json", "authorization": "Bearer \(platform.token)"] }

    let platform: Platform
    let turnTimeout: Double
    let concurrency: Int
    let logger: Logger
    let http: HTTPClient

    init(platform: Platform, turnTimeout: Double, concurrency: Int, logger: Logger) {
        self.platform = platform
        self.turnTimeout = turnTimeout
        self.concurrency = concurrency
        self.logger = logger
        self.http = HTTPClient(maxConcurrentRequests: concurrency * 2 + 2, userAgent: "switchboard-eval", logger: logger)
    }

    /// The conversation a scenario runs as: the services' scripted faults are keyed by it.
    static func conversationID(_ scenario: EvalSuite.Scenario, runID: String) -> String { "eval-\(runID)-\(scenario.id)" }

    /// `SWITCHBOARD_FAULTS` items for the scenarios' own faults (FaultInjection).
    static func scriptedFaults(_ scenarios: [EvalSuite.Scenario], runID: String) -> [String] {
        scenarios.flatMap { scenario in
            scenario.faults.toolError.map { "tool_error@\(conversationID(scenario, runID: runID))=\($0)" }
                + scenario.faults.toolTimeout.map { "tool_timeout@\(conversationID(scenario, runID: runID))=\($0)" }
        }
    }

    func run(_ scenarios: [EvalSuite.Scenario], grader: ScenarioGrader, runID: String) async throws -> [ScenarioResult] {
        defer { Task { [http] in await http.shutdown() } }
        // The broker fault: the broker process stopped (SIGSTOP) for 5 s, 2 s into the run, while
        // conversations are in flight: every hop on the log stalls and must resume by itself.
        let pause: Task<Void, Never>? = platform.faults.broker ? platform.broker.map { broker in
            Task {
                try? await Task.sleep(for: .seconds(2))
                kill(broker.pid, SIGSTOP)
                FileHandle.standardError.write(Data("fault: broker paused for 5 s\n".utf8))
                try? await Task.sleep(for: .seconds(5))
                kill(broker.pid, SIGCONT)
            }
        } : nil
        defer { pause?.cancel(); if let broker = platform.broker { kill(broker.pid, SIGCONT) } }

        try await warmUp(runID: runID)
        var results = [ScenarioResult?](repeating: nil, count: scenarios.count)
        try await withThrowingTaskGroup(of: (Int, ScenarioResult).self) { group in
            var next = 0
            func launch() {
                let index = next
                next += 1
                group.addTask { (index, try await self.converse(scenarios[index], conversationID: Self.conversationID(scenarios[index], runID: runID), grader: grader)) }
            }
            while next < min(concurrency, scenarios.count) { launch() }
            while let (index, result) = try await group.next() {
                results[index] = result
                if next < scenarios.count { launch() }
            }
        }
        await pause?.value
        return results.compactMap { $0 }
    }

    /// A platform just started is ready before its consumers have their partitions: the first
    /// turns would measure the group joins. One ungraded turn first (up to a minute).
    func warmUp(runID: String) async throws {
        let conversationID = "eval-\(runID)-warmup"
        let body = JSONValue.object(["customer_id": "eval_warmup", "text": "hello"]).serialized()
        _ = try await send(HTTPRequest(
            method: "POST", url: "\(platform.gateway)/v1/conversations/\(conversationID)/messages",
            headers: headers, body: body, timeout: .seconds(10)))
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await events(conversationID).contains(where: { $0.type == ReplyDelivered.eventType || $0.type == HandoverRequested.eventType }) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw EvalRunError("the platform did not answer a first message within 60 s")
    }

    /// One scripted conversation, graded.
    func converse(_ scenario: EvalSuite.Scenario, conversationID: String, grader: ScenarioGrader) async throws -> ScenarioResult {
        var pending = scenario.messages[...]
        var answers = scenario.answers
        var turns: [TurnRecord] = []
        var lastReply: ReplyDelivered?
        while turns.count < scenario.maxTurns {
            let text: String
            if let message = pending.popFirst() {
                text = message
            } else if let reply = lastReply, reply.kind == .clarification,
                let index = answers.firstIndex(where: { reply.text.range(of: $0.when, options: [.regularExpression, .caseInsensitive]) != nil })
            {
                text = answers.remove(at: index).say
            } else {
                break
            }
            let (record, reply) = try await turn(text, scenario: scenario, conversationID: conversationID)
            turns.append(record)
            // With a human, waiting for one, or unanswered, the AI's part of the conversation is over.
            guard record.outcome == .replied else { break }
            lastReply = reply
        }
        let events = try await events(conversationID)
        return grader.grade(scenario, conversationID: conversationID, turns: turns, events: events)
    }

    func turn(_ text: String, scenario: EvalSuite.Scenario, conversationID: String) async throws -> (TurnRecord, ReplyDelivered?) {
        let body = JSONValue.object(["customer_id": .string(scenario.customer), "text": .string(text)]).serialized()
        let response = try await send(HTTPRequest(
            method: "POST", url: "\(platform.gateway)/v1/conversations/\(conversationID)/messages",
            headers: headers, body: body, timeout: .seconds(30)))
        guard response.status == 202 || response.status == 200, let turnText = (try? JSONValue.parse(response.body))?["turn_id"]?.stringValue, let turnID = UUID(uuidString: turnText) else {
            throw EvalRunError("POST a message to \(conversationID): HTTP \(response.status) \(String(decoding: response.body.prefix(300), as: UTF8.self))")
        }
        let deadline = ContinuousClock.now + .seconds(turnTimeout)
        var decided = false
        var handoverSeenAt: ContinuousClock.Instant?
        while ContinuousClock.now < deadline {
            let events = try await events(conversationID).filter { $0.turnID == turnID }
            let received = events.first { $0.type == MessageReceived.eventType }?.occurredAtMillis
            func latency(_ event: EventEnvelope) -> Double { Double(event.occurredAtMillis - (received ?? event.occurredAtMillis)) }
            let handover = events.first { $0.type == HandoverRequested.eventType }
            let asked = events.first { $0.type == ApprovalRequested.eventType }
            // With an approval the scenario decides, the turn ends at the reply after the decision
            // (the first reply only says a colleague is checking). Latency is the first reply's.
            let decidedAt = events.firstIndex { $0.type == ApprovalGranted.eventType || $0.type == ApprovalDenied.eventType }
            let replies = events.enumerated().filter { $0.element.type == ReplyDelivered.eventType }
            let final = asked != nil && scenario.approval != nil ? replies.first { decidedAt != nil && $0.offset > decidedAt! }?.element : replies.first?.element
            if let final, let reply = try? final.decode(ReplyDelivered.self) {
                let first = replies.first?.element ?? final
                return (TurnRecord(turnID: turnID, text: text, latencyMs: latency(handover ?? first), outcome: handover == nil ? .replied : .handedOver), reply)
            }
            if let handover {
                // The handover message follows; a handover without one still ends the turn.
                if let seen = handoverSeenAt, ContinuousClock.now - seen > .seconds(3) {
                    return (TurnRecord(turnID: turnID, text: text, latencyMs: latency(handover), outcome: .handedOver), nil)
                }
                handoverSeenAt = handoverSeenAt ?? ContinuousClock.now
            } else if let asked, let approval = try? asked.decode(ApprovalRequested.self) {
                guard let decision = scenario.approval else {
                    return (TurnRecord(turnID: turnID, text: text, latencyMs: latency(asked), outcome: .awaitingApproval), nil)
                }
                if !decided { decided = try await decide(approval.approvalID, decision) }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return (TurnRecord(turnID: turnID, text: text, latencyMs: turnTimeout * 1000, outcome: .unanswered), nil)
    }

    /// The scripted human's decision; false while HILQueue's read model has not seen the request yet.
    func decide(_ approvalID: UUID, _ decision: EvalSuite.ApprovalDecision) async throws -> Bool {
        guard let hilqueue = platform.hilqueue else { throw EvalRunError("the scenario decides an approval: give --hilqueue with --gateway") }
        let body: JSONValue = decision == .approve ? ["agent_id": "eval_agent", "note": "approved by the eval script"] : ["agent_id": "eval_agent", "reason": "denied by the eval script"]
        let response = try await send(HTTPRequest(
            method: "POST", url: "\(hilqueue)/v1/approvals/\(approvalID.uuidString.lowercased())/\(decision.rawValue)",
            headers: headers, body: body.serialized(), timeout: .seconds(10)))
        switch response.status {
        case 200, 409: return true
        case 404: return false
        default: throw EvalRunError("\(decision.rawValue) approval \(approvalID): HTTP \(response.status) \(String(decoding: response.body.prefix(300), as: UTF8.self))")
        }
    }

    /// Every event of the conversation, in log order, from the gateway's read API.
    func events(_ conversationID: String) async throws -> [EventEnvelope] {
        var all: [EventEnvelope] = []
        var after: String?
        repeat {
            let response = try await send(HTTPRequest(
                method: "GET", url: "\(platform.gateway)/v1/conversations/\(conversationID)/events?limit=200" + (after.map { "&after=\($0)" } ?? ""),
                headers: headers, timeout: .seconds(10)))
            guard response.status == 200, let page = try? JSONValue.parse(response.body) else {
                throw EvalRunError("GET events of \(conversationID): HTTP \(response.status)")
            }
            for event in page["events"]?.arrayValue ?? [] {
                all.append(try EventCodec.decode(event.serialized(sortedKeys: false)))
            }
            after = page["next_after"]?.stringValue
        } while after != nil
        return all
    }
}

struct EvalRunError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
