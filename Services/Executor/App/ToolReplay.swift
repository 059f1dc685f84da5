public import Events
import Foundation
public import JSON
import Logging
import Postgres

/// Replay mode (`SWITCHBOARD_TOOL_REPLAY`, set by `switchboard shadow` on the throwaway
/// platform it starts; docs/SHADOW.md): every approved step is answered from production's
/// recorded results and no tool runs, native, HTTP or MCP. A shadow run replays customer
/// messages through a candidate brain or policy; its tool calls must neither reach a system of
/// record nor depend on the candidate platform's own (demo) data.
///
/// The file is a JSON array of recorded calls:
/// `{"tool", "args", "outcome": "succeeded"|"failed", "result" | "error": {code, message, retriable}}`,
/// optionally with `conversation_id` (the conversation, on the replaying platform, whose
/// production turn made the call) and `risk_tier`. A call matches on the tool and its arguments
/// (compared as JSON with sorted keys). A write matches only its own conversation's recordings,
/// in the order they were made; a read may also take another conversation's (the latest), since
/// its result describes the system of record, not an effect. No match: `ToolFailed` with code
/// `not_recorded`.
public final class ToolReplay: @unchecked Sendable {
    /// What production's call returned.
    public enum Outcome: Sendable, Equatable {
        case succeeded(JSONValue)
        case failed(ToolError)
    }

    public struct Call: Sendable, Equatable {
        public var conversationID: String?
        public var tool: String
        public var args: JSONValue
        public var outcome: Outcome
        public init(conversationID: String?, tool: String, args: JSONValue, outcome: Outcome) {
            self.conversationID = conversationID
            self.tool = tool
            self.args = args
            self.outcome = outcome
        }
    }

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    public let path: String
    public let calls: [Call]
    /// Calls by conversation, tool and canonical arguments, in recorded order; reads by tool and
    /// arguments only.
    private let byConversation: [String: [Call]]
    private let byCall: [String: [Call]]
    // Guarded by `lock`: how many recordings of a key a conversation has used.
    private let lock = NSLock()
    private var used: [String: Int] = [:]

    public init(calls: [Call], path: String = "") {
        self.path = path
        self.calls = calls
        var byConversation: [String: [Call]] = [:]
        var byCall: [String: [Call]] = [:]
        for call in calls {
            let key = Self.key(tool: call.tool, args: call.args)
            byCall[key, default: []].append(call)
            if let conversation = call.conversationID { byConversation[conversation + "\u{0}" + key, default: []].append(call) }
        }
        self.byConversation = byConversation
        self.byCall = byCall
    }

    /// The arguments as the recording and the lookup both spell them.
    public static func key(tool: String, args: JSONValue) -> String {
        tool + "\u{0}" + args.serializedString(sortedKeys: true)
    }

    /// Reads and checks the file; every entry must be well formed (a recording that silently
    /// lost a call would answer `not_recorded` where production had a result).
    public static func load(path: String) throws -> ToolReplay {
        guard let data = FileManager.default.contents(atPath: path) else { throw LoadError(description: "SWITCHBOARD_TOOL_REPLAY: cannot read \(path)") }
        let document: JSONValue
        do { document = try JSONValue.parse(Array(data)) } catch { throw LoadError(description: "SWITCHBOARD_TOOL_REPLAY \(path): \(error)") }
        guard let entries = document.arrayValue else { throw LoadError(description: "SWITCHBOARD_TOOL_REPLAY \(path): expected a JSON array of recorded calls") }
        var calls: [Call] = []
        for (index, entry) in entries.enumerated() {
            func bad(_ why: String) -> LoadError { LoadError(description: "SWITCHBOARD_TOOL_REPLAY \(path): entry \(index): \(why)") }
            guard let tool = entry["tool"]?.stringValue, !tool.isEmpty else { throw bad("no tool") }
            guard let args = entry["args"] else { throw bad("no args") }
            let outcome: Outcome
            switch entry["outcome"]?.stringValue {
            case "succeeded":
                guard let result = entry["result"] else { throw bad("a succeeded call needs a result") }
                outcome = .succeeded(result)
            case "failed":
                guard let code = entry["error"]?["code"]?.stringValue else { throw bad("a failed call needs error.code") }
                outcome = .failed(ToolError(
                    code: code, message: entry["error"]?["message"]?.stringValue ?? code, retriable: entry["error"]?["retriable"]?.boolValue ?? false))
            default:
                throw bad("outcome must be succeeded or failed")
            }
            calls.append(Call(conversationID: entry["conversation_id"]?.stringValue, tool: tool, args: args, outcome: outcome))
        }
        return ToolReplay(calls: calls, path: path)
    }

    /// The recorded answer to this call, or `not_recorded`.
    public func answer(conversationID: String, tool: String, args: JSONValue, riskTier: RiskTier) -> Outcome {
        let key = Self.key(tool: tool, args: args)
        let conversationKey = conversationID + "\u{0}" + key
        if let own = byConversation[conversationKey], !own.isEmpty {
            // The n-th identical call of the conversation gets the n-th recording (then the last).
            let index = lock.withLock {
                let index = used[conversationKey, default: 0]
                used[conversationKey] = index + 1
                return min(index, own.count - 1)
            }
            return own[index].outcome
        }
        if riskTier == .read, let any = byCall[key]?.last {
            return any.outcome
        }
        return .failed(ToolError(
            code: "not_recorded",
            message: "replay mode: production never made this call (\(tool) with these arguments\(riskTier == .read ? "" : " in this conversation")), so there is no result to return",
            retriable: false))
    }
}

extension ExecutorReactor {
    /// A step in replay mode: the recorded result as the step's result event, stored in the
    /// exactly-once table like a real call's, so a redelivered step gets the same event back.
    func replayed(_ event: EventEnvelope, _ step: StepApproved, _ replay: ToolReplay) async throws -> EventEnvelope {
        let resultEvent: EventEnvelope
        let status: String
        switch replay.answer(conversationID: event.conversationID, tool: step.tool, args: step.args, riskTier: step.riskTier) {
        case .succeeded(let value):
            status = "succeeded"
            resultEvent = try event.reaction(ToolSucceeded(planID: step.planID, stepID: step.stepID, tool: step.tool, result: value, durationMs: 0), producer: producer, label: "result")
        case .failed(let error):
            status = "failed"
            resultEvent = try event.reaction(ToolFailed(planID: step.planID, stepID: step.stepID, tool: step.tool, error: error, durationMs: 0), producer: producer, label: "result")
        }
        let recorded = try await pool.query("""
            WITH inserted AS (
                INSERT INTO executor.tool_executions (step_id, plan_id, conversation_id, tenant_id, tool, args, status, result_event, finished_at, duration_ms)
                VALUES (\(step.stepID), \(step.planID), \(event.conversationID), \(event.tenantID), \(step.tool), \(String(decoding: step.args.serialized(), as: UTF8.self))::jsonb,
                        \(status), \(String(decoding: EventCodec.encode(resultEvent), as: UTF8.self)), now(), 0)
                ON CONFLICT (step_id) DO NOTHING
                RETURNING result_event
            )
            SELECT result_event FROM inserted
            UNION ALL
            SELECT result_event FROM executor.tool_executions WHERE step_id = \(step.stepID) AND NOT EXISTS (SELECT 1 FROM inserted)
            """)
        logger.info("step answered from the replay recording", metadata: ["step.id": "\(step.stepID)", "tool": "\(step.tool)", "status": "\(status)"])
        guard let text = try recorded.first?.decode("result_event", as: String?.self) else { return resultEvent }
        return try EventCodec.decode(Array(text.utf8))
    }

    /// A dry run in replay mode changes nothing and previews nothing real: it says so, and the
    /// approval that follows (which nobody decides in a shadow run) shows it.
    func replayedDryRun(_ event: EventEnvelope, _ request: DryRunRequested) throws -> EventEnvelope {
        try event.reaction(DryRunCompleted(
            planID: request.planID, stepID: request.stepID, tool: request.tool, args: request.args, riskTier: request.riskTier, reason: request.reason,
            preview: EffectPreview(
                summary: "Replay (shadow run): \(request.tool) is not previewed; an approved call would be answered from production's recorded result.",
                changes: [])), producer: producer)
    }
}
