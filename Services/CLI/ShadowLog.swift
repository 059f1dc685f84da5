import Events
import Foundation
import JSON
import Kafka
import LogTools

/// What `switchboard shadow` takes from production's log: the customer messages in the range,
/// grouped by conversation, each with the events of its turn (same correlation id) that say what
/// production did, and the tool calls production ran with their results.
struct ShadowRecording: Sendable {
    struct Turn: Sendable {
        var turnID: UUID
        var customerID: String
        var text: String
        var occurredAtMillis: Int64
        /// The turn's outcome events, in log order.
        var events: [EventEnvelope]
    }

    struct Conversation: Sendable {
        var id: String
        var turns: [Turn]
        var firstMessageMillis: Int64 { turns.first?.occurredAtMillis ?? 0 }
    }

    /// A tool call production ran (approved, then succeeded or failed), with what it returned.
    struct Call: Sendable, Equatable {
        var tool: String
        var args: JSONValue
        var riskTier: RiskTier
        var result: JSONValue?
        var error: ToolError?
    }

    /// In the order of their first message in the range.
    var conversations: [Conversation]

    var turnCount: Int { conversations.reduce(0) { $0 + $1.turns.count } }

    /// The event types that say what production did in a turn (the others are not decoded).
    static let outcomeTypes: Set<String> = [
        DecisionMade.eventType, PlanProposed.eventType, StepApproved.eventType, ToolSucceeded.eventType, ToolFailed.eventType,
        ReplyDelivered.eventType, HandoverRequested.eventType, ApprovalRequested.eventType,
    ]

    /// Reads the log once, from `--from` (an offset, or the start) to its end as it was when the
    /// read began. A turn is in the range when its `MessageReceived` matches `filter`; its
    /// outcome events are taken wherever they are after it (a turn that began just before
    /// `--to` still has its reply). `conversations`, when not empty, limits the read to those.
    static func read(scanner: LogScanner, filter: EventFilter, conversations only: Set<String>, limit: Int?) async throws -> ShadowRecording {
        let collector = Collector(filter: filter, only: only)
        try await scanner.scanRecords(fromOffset: filter.fromOffset ?? 0) { record in collector.take(record) }
        var recording = collector.recording()
        if let limit { recording.conversations = Array(recording.conversations.prefix(limit)) }
        return recording
    }

    /// The tool calls of the turn's events: each `StepApproved` with the `ToolSucceeded` or
    /// `ToolFailed` of the same step after it (a dry run's failure, for a step never approved,
    /// is not a call).
    static func calls(in events: [EventEnvelope]) -> [Call] {
        var approved: [UUID: StepApproved] = [:]
        var calls: [Call] = []
        var answered = Set<UUID>()
        for event in events {
            switch event.type {
            case StepApproved.eventType:
                if let step = try? event.decode(StepApproved.self) { approved[step.stepID] = approved[step.stepID] ?? step }
            case ToolSucceeded.eventType:
                guard let result = try? event.decode(ToolSucceeded.self), let step = approved[result.stepID], answered.insert(step.stepID).inserted else { continue }
                calls.append(Call(tool: step.tool, args: step.args, riskTier: step.riskTier, result: result.result))
            case ToolFailed.eventType:
                guard let failure = try? event.decode(ToolFailed.self), let step = approved[failure.stepID], answered.insert(step.stepID).inserted else { continue }
                calls.append(Call(tool: step.tool, args: step.args, riskTier: step.riskTier, error: failure.error))
            default:
                continue
            }
        }
        return calls
    }

    /// The executor's replay file (`SWITCHBOARD_TOOL_REPLAY`): every call production ran in the
    /// recorded turns, under the conversation id the candidate platform will see.
    func replayFile(candidateID: (String) -> String) -> JSONValue {
        var entries: [JSONValue] = []
        for conversation in conversations {
            for turn in conversation.turns {
                for call in Self.calls(in: turn.events) {
                    var entry: [String: JSONValue] = [
                        "conversation_id": .string(candidateID(conversation.id)), "tool": .string(call.tool), "args": call.args,
                        "risk_tier": .number(Double(call.riskTier.rawValue)),
                    ]
                    if let error = call.error {
                        entry["outcome"] = "failed"
                        entry["error"] = ["code": .string(error.code), "message": .string(error.message), "retriable": .bool(error.retriable)]
                    } else {
                        entry["outcome"] = "succeeded"
                        entry["result"] = call.result ?? .null
                    }
                    entries.append(.object(entry))
                }
            }
        }
        return .array(entries)
    }

    /// Folds the scan's records; called from one task at a time (the scan awaits each call).
    final class Collector: @unchecked Sendable {
        let filter: EventFilter
        let only: Set<String>
        private var conversations: [String: Conversation] = [:]
        /// Turn id → (conversation, index of the turn).
        private var turns: [UUID: (String, Int)] = [:]
        private var seen = Set<UUID>()

        init(filter: EventFilter, only: Set<String>) {
            self.filter = filter
            self.only = only
        }

        func take(_ record: KafkaRecord) {
            // The type header spares decoding the events no turn needs; a record without one is decoded.
            let header = record.headers.first(where: { $0.key == "event-type" })?.value.map { String(decoding: $0, as: UTF8.self) }
            if let header, header != MessageReceived.eventType, !ShadowRecording.outcomeTypes.contains(header) { return }
            guard let event = try? EventCodec.decode(record.value) else { return }
            if event.type == MessageReceived.eventType {
                guard filter.mightMatch(record), filter.matches(event),
                      only.isEmpty || only.contains(event.conversationID), seen.insert(event.id).inserted,
                      let message = try? event.decode(MessageReceived.self)
                else { return }
                let turn = Turn(turnID: event.correlationID, customerID: message.customerID, text: message.text, occurredAtMillis: event.occurredAtMillis, events: [])
                // A repeated message (an Idempotency-Key retry) is the same turn.
                guard turns[event.correlationID] == nil else { return }
                turns[event.correlationID] = (event.conversationID, conversations[event.conversationID]?.turns.count ?? 0)
                conversations[event.conversationID, default: Conversation(id: event.conversationID, turns: [])].turns.append(turn)
                return
            }
            guard ShadowRecording.outcomeTypes.contains(event.type),
                  let (conversation, index) = turns[event.correlationID], event.conversationID == conversation, seen.insert(event.id).inserted
            else { return }
            conversations[conversation]?.turns[index].events.append(event)
        }

        func recording() -> ShadowRecording {
            ShadowRecording(conversations: conversations.values.sorted {
                ($0.firstMessageMillis, $0.id) < ($1.firstMessageMillis, $1.id)
            })
        }
    }
}
