import Events
import Foundation
import JSON

// The decision diff of `switchboard shadow` (docs/SHADOW.md): what production did and what the
// candidate would do, per turn, read from each side's events the same way; and the agreement
// figures. Pure values and functions: no log, no platform.

/// One side of one turn (production's, or the candidate's), read from the turn's events.
struct ShadowSide: Sendable, Equatable {
    struct ToolCall: Sendable, Equatable {
        var tool: String
        var args: JSONValue
    }

    /// How a replayed turn ended (the candidate's side only).
    enum Outcome: String, Sendable {
        case replied
        case handedOver = "handed_over"
        case awaitingApproval = "awaiting_approval"
        case unanswered
    }

    /// The first `DecisionMade` of the turn; nil when nothing decided (a person had the conversation).
    var intent: String?
    var action: String?
    var brain: String?
    /// Every step of the turn's plans, in order (what the brain proposed; the verifier may have
    /// stopped some).
    var tools: [ToolCall] = []
    /// The first reply the customer got in the turn (after an approval, production may have said more).
    var reply: String?
    var replyKind: String?
    /// The handover's reason code.
    var handover: String?
    /// A step of the turn waited for a person's approval.
    var approval = false
    var outcome: Outcome?

    /// The side as seen in a turn's events, in log order (repeated events, same id, count once).
    init(events: [EventEnvelope], outcome: Outcome? = nil) {
        self.outcome = outcome
        var seen = Set<UUID>()
        for event in events where seen.insert(event.id).inserted {
            switch event.type {
            case DecisionMade.eventType where intent == nil:
                guard let decision = try? event.decode(DecisionMade.self) else { continue }
                intent = decision.intent
                action = decision.nextAction.rawValue
                brain = decision.brain
            case PlanProposed.eventType:
                guard let plan = try? event.decode(PlanProposed.self) else { continue }
                tools += plan.steps.map { ToolCall(tool: $0.tool, args: $0.args) }
            case ReplyDelivered.eventType where reply == nil:
                guard let delivered = try? event.decode(ReplyDelivered.self) else { continue }
                reply = delivered.text
                replyKind = delivered.kind.rawValue
            case HandoverRequested.eventType where handover == nil:
                handover = (try? event.decode(HandoverRequested.self))?.reason.rawValue
            case ApprovalRequested.eventType:
                approval = true
            default:
                continue
            }
        }
    }

    init(intent: String?, action: String? = nil, tools: [ToolCall] = [], reply: String? = nil, handover: String? = nil, approval: Bool = false, outcome: Outcome? = nil) {
        self.intent = intent
        self.action = action
        self.tools = tools
        self.reply = reply
        self.handover = handover
        self.approval = approval
        self.outcome = outcome
    }

    func json() -> JSONValue {
        var fields: [String: JSONValue] = [
            "intent": intent.map(JSONValue.string) ?? .null,
            "action": action.map(JSONValue.string) ?? .null,
            "tools": .array(tools.map { .object(["tool": .string($0.tool), "args": $0.args]) }),
            "reply": reply.map(JSONValue.string) ?? .null,
            "handover": handover.map(JSONValue.string) ?? .null,
            "approval": .bool(approval),
        ]
        if let brain { fields["brain"] = .string(brain) }
        if let replyKind { fields["reply_kind"] = .string(replyKind) }
        if let outcome { fields["outcome"] = .string(outcome.rawValue) }
        return .object(fields)
    }
}

/// Whether the candidate decided as production did. Tools agree when the same tools were
/// proposed with equal arguments in the same order; handover when both or neither handed over
/// (the reasons are shown, not compared: a different reason follows a different intent).
struct ShadowAgreement: Sendable, Equatable {
    var intent: Bool
    var tools: Bool
    var handover: Bool
    var overall: Bool { intent && tools && handover }

    init(intent: Bool, tools: Bool, handover: Bool) {
        self.intent = intent
        self.tools = tools
        self.handover = handover
    }

    init(production: ShadowSide, candidate: ShadowSide) {
        intent = production.intent == candidate.intent
        tools = production.tools == candidate.tools
        handover = (production.handover != nil) == (candidate.handover != nil)
    }

    func json() -> JSONValue {
        ["intent": .bool(intent), "tools": .bool(tools), "handover": .bool(handover), "overall": .bool(overall)]
    }
}

/// One recorded customer message and both sides of it.
struct ShadowTurn: Sendable {
    enum Status: String, Sendable {
        /// Replayed, and production decided: counted in the agreement figures.
        case compared
        /// The candidate handed the conversation over at an earlier turn.
        case notReplayed = "not_replayed"
        /// Replayed, but production made no decision to compare with (a person had the conversation).
        case noProductionDecision = "no_production_decision"
    }

    var conversationID: String
    var candidateConversationID: String
    /// 1-based, among the conversation's turns in the range.
    var index: Int
    var turnID: UUID
    var customerID: String
    var text: String
    var occurredAtMillis: Int64
    var production: ShadowSide
    /// nil: not replayed.
    var candidate: ShadowSide?

    var status: Status {
        guard candidate != nil else { return .notReplayed }
        return production.intent == nil ? .noProductionDecision : .compared
    }

    var agreement: ShadowAgreement? {
        guard status == .compared, let candidate else { return nil }
        return ShadowAgreement(production: production, candidate: candidate)
    }

    func json() -> JSONValue {
        [
            "conversation_id": .string(conversationID),
            "candidate_conversation_id": .string(candidateConversationID),
            "turn": .number(Double(index)),
            "turn_id": .string(turnID.uuidString.lowercased()),
            "customer_id": .string(customerID),
            "text": .string(text),
            "occurred_at": .string(Timestamp.format(millis: occurredAtMillis)),
            "status": .string(status.rawValue),
            "note": status == .notReplayed ? .string("not replayed (candidate handed over)") : .null,
            "production": production.json(),
            "candidate": candidate?.json() ?? .null,
            "agree": agreement?.json() ?? .null,
        ]
    }
}

/// The agreement figures: over every compared turn, and per production intent.
struct ShadowSummary: Sendable, Equatable {
    struct Counts: Sendable, Equatable {
        var turns = 0
        var overall = 0
        var intent = 0
        var tools = 0
        var handover = 0

        mutating func add(_ agreement: ShadowAgreement) {
            turns += 1
            if agreement.overall { overall += 1 }
            if agreement.intent { intent += 1 }
            if agreement.tools { tools += 1 }
            if agreement.handover { handover += 1 }
        }

        func rate(_ count: Int) -> Double { turns == 0 ? 0 : Double(count) / Double(turns) }

        func json() -> JSONValue {
            [
                "turns": .number(Double(turns)),
                "overall": .number(rate(overall)), "intent": .number(rate(intent)),
                "tools": .number(rate(tools)), "handover": .number(rate(handover)),
            ]
        }
    }

    var turns = 0
    var notReplayed = 0
    var noProductionDecision = 0
    var conversations = 0
    var all = Counts()
    var byIntent: [String: Counts] = [:]

    init(_ turns: [ShadowTurn]) {
        self.turns = turns.count
        conversations = Set(turns.map(\.conversationID)).count
        for turn in turns {
            switch turn.status {
            case .notReplayed: notReplayed += 1
            case .noProductionDecision: noProductionDecision += 1
            case .compared:
                guard let agreement = turn.agreement else { continue }
                all.add(agreement)
                byIntent[turn.production.intent ?? "", default: Counts()].add(agreement)
            }
        }
    }

    var compared: Int { all.turns }

    func json() -> JSONValue {
        [
            "conversations": .number(Double(conversations)),
            "turns": .number(Double(turns)),
            "compared": .number(Double(compared)),
            "not_replayed": .number(Double(notReplayed)),
            "no_production_decision": .number(Double(noProductionDecision)),
            "agreement": all.json(),
            "by_intent": .object(byIntent.mapValues { $0.json() }),
        ]
    }

    /// Per production intent: turns compared and agreement, then all of them.
    func table() -> String {
        func percent(_ counts: Counts, _ count: Int) -> String { counts.turns == 0 ? "-" : String(format: "%.1f%%", counts.rate(count) * 100) }
        let width = max(12, (byIntent.keys.map(\.count).max() ?? 0) + 2)
        func pad(_ text: String, _ n: Int) -> String { text.count >= n ? text + " " : text + String(repeating: " ", count: n - text.count) }
        func row(_ name: String, _ counts: Counts) -> String {
            pad(name, width) + pad(String(counts.turns), 7) + pad(percent(counts, counts.overall), 9) + pad(percent(counts, counts.intent), 9)
                + pad(percent(counts, counts.tools), 9) + percent(counts, counts.handover)
        }
        var lines = [pad("intent", width) + pad("turns", 7) + pad("agree", 9) + pad("intent", 9) + pad("tools", 9) + "handover"]
        for name in byIntent.keys.sorted() { lines.append(row(name, byIntent[name]!)) }
        lines.append(row("all", all))
        var notes: [String] = []
        if notReplayed > 0 { notes.append("\(notReplayed) not replayed (candidate handed over)") }
        if noProductionDecision > 0 { notes.append("\(noProductionDecision) without a production decision (a person had the conversation)") }
        lines.append("\(turns) turns in \(conversations) conversations, \(compared) compared" + (notes.isEmpty ? "" : "; " + notes.joined(separator: "; ")))
        return lines.joined(separator: "\n")
    }
}

/// The `--out` document and the `--report` page.
struct ShadowDiff: Sendable {
    var runID: String
    var brain: String
    var policy: String
    var from: String?
    var to: String?
    var turns: [ShadowTurn]
    var summary: ShadowSummary { ShadowSummary(turns) }

    func json() -> JSONValue {
        [
            "run_id": .string(runID),
            "brain": .string(brain),
            "policy": .string(policy),
            "range": ["from": from.map(JSONValue.string) ?? .null, "to": to.map(JSONValue.string) ?? .null],
            "summary": summary.json(),
            "turns": .array(turns.map { $0.json() }),
        ]
    }

    /// One page: the figures, then each turn where the candidate disagreed, both sides.
    func html() -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        func side(_ side: ShadowSide?) -> String {
            guard let side else { return "<td><em>not replayed</em></td>" }
            let tools = side.tools.isEmpty ? "none" : side.tools.map { "\(escape($0.tool)) \(escape($0.args.serializedString()))" }.joined(separator: "<br>")
            return """
                <td><b>intent</b> \(escape(side.intent ?? "(none)")) <b>action</b> \(escape(side.action ?? "-"))<br>\
                <b>tools</b> \(tools)<br>\
                <b>reply</b> \(escape(side.reply ?? "(none)"))<br>\
                <b>handover</b> \(escape(side.handover ?? "no"))\(side.approval ? "<br><b>approval</b> requested" : "")\
                \(side.outcome.map { "<br><b>outcome</b> \($0.rawValue)" } ?? "")</td>
                """
        }
        let summary = self.summary
        let disagreeing = turns.filter { $0.agreement.map { !$0.overall } ?? false }
        var page = """
            <!doctype html><html><head><meta charset="utf-8"><title>Shadow run \(escape(runID))</title>
            <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}</style>
            </head><body><h1>Shadow run \(escape(runID))</h1>
            <p>Brain <b>\(escape(brain))</b>, policy <b>\(escape(policy))</b>, range \(escape(from ?? "start")) – \(escape(to ?? "end")).</p>
            <pre>\(escape(summary.table()))</pre>
            <h2>Disagreements (\(disagreeing.count))</h2>

            """
        for turn in disagreeing {
            let agreement = turn.agreement!
            let differs = [agreement.intent ? nil : "intent", agreement.tools ? nil : "tools", agreement.handover ? nil : "handover"].compactMap { $0 }
            page += """
                <h3>\(escape(turn.conversationID)) turn \(turn.index): differs in \(differs.joined(separator: ", "))</h3>
                <p>Customer: \(escape(turn.text))</p>
                <table><tr><th>production</th><th>candidate</th></tr><tr>\(side(turn.production))\(side(turn.candidate))</tr></table>

                """
        }
        return page + "</body></html>\n"
    }
}
