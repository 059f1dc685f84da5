import EventBus
import Events
import Foundation
import JSON
public import Postgres
public import Projections

/// `cases.tickets` (run by the planner): the case record of each conversation — status, intent,
/// workflow, the facts and slots with their provenance and the event that set them, and every
/// decision. A fact the customer gave is never overwritten by an inferred one.
public struct TicketsProjection: Projection {
    public let name = "cases.tickets"
    public let schema: String
    public let version = 2
    public let tables = ["tickets", "ticket_facts", "ticket_decisions"]
    public let interestedIn: Set<String>? = [
        MessageReceived.eventType, DecisionMade.eventType, ClarificationRequested.eventType, PlanProposed.eventType,
        StepVerified.eventType, ReplyDelivered.eventType, HandoverRequested.eventType, FactRetracted.eventType,
    ]

    public init(schema: String = ReadModels.cases.liveSchema) { self.schema = schema }

    public static let migrations: [Migration] = [
        projectionOffsetsMigration(version: 1),
        Migration(version: 2, name: "tickets", sql: """
            CREATE TABLE tickets (
                conversation_id text PRIMARY KEY,
                tenant_id text NOT NULL,
                customer_id text NOT NULL,
                status text NOT NULL,
                intent text,
                workflow text,
                opened_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            );
            CREATE TABLE ticket_facts (
                conversation_id text NOT NULL,
                name text NOT NULL,
                value text NOT NULL,
                provenance text NOT NULL CHECK (provenance IN ('customer', 'tool', 'inferred')),
                set_by_event uuid NOT NULL,
                set_at timestamptz NOT NULL,
                PRIMARY KEY (conversation_id, name)
            );
            CREATE TABLE ticket_decisions (
                event_id uuid PRIMARY KEY,
                conversation_id text NOT NULL,
                turn_id uuid NOT NULL,
                brain text NOT NULL,
                intent text NOT NULL,
                next_action text NOT NULL,
                confidence double precision NOT NULL,
                explain text NOT NULL,
                decided_at timestamptz NOT NULL
            );
            CREATE INDEX ticket_decisions_conversation ON ticket_decisions (conversation_id, decided_at);
            CREATE INDEX tickets_status ON tickets (tenant_id, status, updated_at);
            """),
    ]

    /// Set-based: the tickets and facts the batch touches are read once, the batch is folded
    /// over them in memory in log order, and the changed rows are written back with one upsert
    /// per table. What the customer said outranks anything inferred; tools and the customer
    /// overwrite; a handed-over ticket keeps that status.
    public func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        struct Ticket {
            var tenant: String, customer: String, status: TicketStatus, intent: String?, workflow: String?, opened: Int64, updated: Int64
        }
        struct Fact: Equatable {
            var value: String, provenance: String, setBy: String, setAt: Int64
        }
        struct FactKey: Hashable { var conversation: String, name: String }
        let quoted = try PostgresQuery.quotedIdentifier(schema)
        let touched = Array(Set(events.map(\.event.conversationID)))
        var tickets: [String: Ticket] = [:]
        for row in try BulkWrite.rows("""
            SELECT conversation_id, tenant_id, customer_id, status, intent, workflow,
                   (extract(epoch FROM opened_at) * 1000)::bigint AS opened_ms, (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms
            FROM \(quoted).tickets WHERE conversation_id
            """, keys: touched, in: connection) {
            tickets[try row.decode("conversation_id")] = Ticket(
                tenant: try row.decode("tenant_id"), customer: try row.decode("customer_id"), status: try .stored(try row.decode("status"), column: "tickets.status"),
                intent: try row.decode("intent"), workflow: try row.decode("workflow"),
                opened: try row.decode("opened_ms"), updated: try row.decode("updated_ms"))
        }
        var facts: [FactKey: Fact] = [:]
        for row in try BulkWrite.rows("""
            SELECT conversation_id, name, value, provenance, set_by_event::text AS set_by, (extract(epoch FROM set_at) * 1000)::bigint AS set_ms
            FROM \(quoted).ticket_facts WHERE conversation_id
            """, keys: touched, in: connection) {
            facts[FactKey(conversation: try row.decode("conversation_id"), name: try row.decode("name"))] = Fact(
                value: try row.decode("value"), provenance: try row.decode("provenance"), setBy: try row.decode("set_by"), setAt: try row.decode("set_ms"))
        }

        var changedTickets = Set<String>()
        var changedFacts = Set<FactKey>()
        var removedFacts = Set<FactKey>()
        var decisions: [[String?]] = []
        var decided = Set<UUID>()
        func touch(_ id: String, at: Int64, status: TicketStatus? = nil, intent: String? = nil, workflow: String? = nil) {
            guard var ticket = tickets[id] else { return }
            if ticket.status != .handedOver, let status { ticket.status = status }
            ticket.intent = intent ?? ticket.intent
            ticket.workflow = workflow ?? ticket.workflow
            ticket.updated = max(ticket.updated, at)
            tickets[id] = ticket
            changedTickets.insert(id)
        }
        func setFact(_ id: String, name: String, value: String, provenance: String, event: EventEnvelope) {
            let key = FactKey(conversation: id, name: name)
            if let existing = facts[key] {
                if existing.provenance == "customer", provenance == "inferred" { return }
                if existing.value == value, existing.provenance == provenance { return }
            }
            facts[key] = Fact(value: value, provenance: provenance, setBy: event.id.lowercaseString, setAt: event.occurredAtMillis)
            changedFacts.insert(key)
            removedFacts.remove(key)
        }
        for logged in events {
            let event = logged.event
            let id = event.conversationID
            let at = event.occurredAtMillis
            switch event.type {
            case MessageReceived.eventType:
                if var ticket = tickets[id] {
                    if ticket.status != .handedOver { ticket.status = .open }
                    ticket.updated = max(ticket.updated, at)
                    tickets[id] = ticket
                } else {
                    let message = try event.decode(MessageReceived.self)
                    tickets[id] = Ticket(tenant: event.tenantID, customer: message.customerID, status: .open, intent: nil, workflow: nil, opened: at, updated: at)
                }
                changedTickets.insert(id)
            case DecisionMade.eventType:
                let decision = try event.decode(DecisionMade.self)
                if decided.insert(event.id).inserted {
                    decisions.append([
                        event.id.lowercaseString, id, event.correlationID.lowercaseString, decision.brain, decision.intent,
                        decision.nextAction.rawValue, String(decision.confidence), decision.explain, Timestamp.format(millis: at),
                    ])
                }
                touch(id, at: at, intent: decision.intent)
                for (name, slot) in decision.entities.sorted(by: { $0.key < $1.key }) {
                    setFact(id, name: name, value: slot.value, provenance: slot.source.rawValue, event: event)
                }
            case ClarificationRequested.eventType:
                touch(id, at: at, status: .awaitingCustomer)
            case PlanProposed.eventType:
                let plan = try event.decode(PlanProposed.self)
                touch(id, at: at, workflow: plan.steps.map(\.tool).joined(separator: ","))
            case StepVerified.eventType:
                for (name, value) in Self.toolFacts(try event.decode(StepVerified.self)) {
                    setFact(id, name: name, value: value, provenance: "tool", event: event)
                }
            case FactRetracted.eventType:
                let retracted = try event.decode(FactRetracted.self)
                let key = FactKey(conversation: id, name: retracted.name)
                if let fact = facts[key], fact.value == retracted.value, fact.provenance == "inferred" {
                    facts[key] = nil
                    changedFacts.remove(key)
                    removedFacts.insert(key)
                }
            case ReplyDelivered.eventType:
                let reply = try event.decode(ReplyDelivered.self)
                if reply.kind == .answer { touch(id, at: at, status: .answered) }
            case HandoverRequested.eventType:
                touch(id, at: at, status: .handedOver)
            default:
                continue
            }
        }
        try BulkWrite.upsert(
            schema: schema, table: "tickets",
            columns: ["conversation_id", "tenant_id", "customer_id", "status", "intent", "workflow", "opened_at timestamptz", "updated_at timestamptz"],
            conflict: ["conversation_id"], update: true,
            rows: changedTickets.sorted().compactMap { id -> [String?]? in
                guard let t = tickets[id] else { return nil }
                return [id, t.tenant, t.customer, t.status.rawValue, t.intent, t.workflow, Timestamp.format(millis: t.opened), Timestamp.format(millis: t.updated)]
            }, in: connection)
        try BulkWrite.upsert(
            schema: schema, table: "ticket_facts",
            columns: ["conversation_id", "name", "value", "provenance", "set_by_event uuid", "set_at timestamptz"],
            conflict: ["conversation_id", "name"], update: true,
            rows: changedFacts.sorted { ($0.conversation, $0.name) < ($1.conversation, $1.name) }.compactMap { key -> [String?]? in
                guard let f = facts[key] else { return nil }
                return [key.conversation, key.name, f.value, f.provenance, f.setBy, Timestamp.format(millis: f.setAt)]
            }, in: connection)
        for key in removedFacts {
            try connection.query("DELETE FROM \(identifier: schema).ticket_facts WHERE conversation_id = \(key.conversation) AND name = \(key.name)")
        }
        try BulkWrite.upsert(
            schema: schema, table: "ticket_decisions",
            columns: ["event_id uuid", "conversation_id", "turn_id uuid", "brain", "intent", "next_action", "confidence double precision", "explain", "decided_at timestamptz"],
            conflict: ["event_id"], update: false, rows: decisions, in: connection)
    }

    /// The scalar fields of a verified tool result as facts named `<tool>.<field>`, in name order.
    static func toolFacts(_ verified: StepVerified) -> [(String, String)] {
        guard case .object(let fields) = verified.result else { return [] }
        return fields.keys.sorted().compactMap { name in
            switch fields[name]! {
            case .string(let text): ("\(verified.tool).\(name)", text)
            case .number, .bool: ("\(verified.tool).\(name)", String(decoding: fields[name]!.serialized(), as: UTF8.self))
            default: nil
            }
        }
    }
}

/// `executions.tool_executions` (run by the executor): every tool call's lifecycle as the log
/// tells it — started, succeeded or failed, duration and error code.
public struct ToolExecutionsProjection: Projection {
    public let name = "executions.tools"
    public let schema: String
    public let version = 1
    public let tables = ["tool_executions"]
    public let interestedIn: Set<String>? = [ToolCallStarted.eventType, ToolSucceeded.eventType, ToolFailed.eventType]

    public init(schema: String = ReadModels.executions.liveSchema) { self.schema = schema }

    public static let migrations: [Migration] = [
        projectionOffsetsMigration(version: 1),
        Migration(version: 2, name: "tool_executions", sql: """
            CREATE TABLE tool_executions (
                step_id uuid PRIMARY KEY,
                plan_id uuid NOT NULL,
                conversation_id text NOT NULL,
                tenant_id text NOT NULL,
                turn_id uuid NOT NULL,
                tool text NOT NULL,
                status text NOT NULL CHECK (status IN ('started', 'succeeded', 'failed')),
                started_at timestamptz,
                finished_at timestamptz,
                duration_ms integer,
                error_code text
            );
            CREATE INDEX tool_executions_conversation ON tool_executions (conversation_id);
            CREATE INDEX tool_executions_tool_status ON tool_executions (tool, status, finished_at);
            """),
    ]

    /// Set-based, like the tickets: read the touched steps, fold in log order, upsert. The
    /// first start and the first outcome of a step count; a repeated event changes nothing.
    public func apply(_ events: [LoggedEvent], in connection: PostgresConnection) throws {
        struct Execution {
            var plan: String, conversation: String, tenant: String, turn: String, tool: String, status: String
            var started: Int64?, finished: Int64?, duration: Int?, errorCode: String?
        }
        let quoted = try PostgresQuery.quotedIdentifier(schema)
        var steps: [(EventEnvelope, step: UUID, plan: UUID, tool: String)] = []
        for event in events.map(\.event) {
            switch event.type {
            case ToolCallStarted.eventType:
                let started = try event.decode(ToolCallStarted.self)
                steps.append((event, started.stepID, started.planID, started.tool))
            case ToolSucceeded.eventType:
                let done = try event.decode(ToolSucceeded.self)
                steps.append((event, done.stepID, done.planID, done.tool))
            case ToolFailed.eventType:
                let failed = try event.decode(ToolFailed.self)
                steps.append((event, failed.stepID, failed.planID, failed.tool))
            default:
                continue
            }
        }
        var state: [String: Execution] = [:]
        for row in try BulkWrite.rows("""
            SELECT step_id::text AS step, plan_id::text AS plan, conversation_id, tenant_id, turn_id::text AS turn, tool, status,
                   (extract(epoch FROM started_at) * 1000)::bigint AS started_ms, (extract(epoch FROM finished_at) * 1000)::bigint AS finished_ms,
                   duration_ms, error_code
            FROM \(quoted).tool_executions WHERE step_id
            """, keys: Array(Set(steps.map { $0.step.lowercaseString })), in: connection) {
            state[try row.decode("step")] = Execution(
                plan: try row.decode("plan"), conversation: try row.decode("conversation_id"), tenant: try row.decode("tenant_id"),
                turn: try row.decode("turn"), tool: try row.decode("tool"), status: try row.decode("status"),
                started: try row.decode("started_ms"), finished: try row.decode("finished_ms"),
                duration: try row.decode("duration_ms"), errorCode: try row.decode("error_code"))
        }
        var changed = Set<String>()
        for (event, stepID, planID, tool) in steps {
            let step = stepID.lowercaseString
            var execution = state[step] ?? Execution(
                plan: planID.lowercaseString, conversation: event.conversationID, tenant: event.tenantID,
                turn: event.correlationID.lowercaseString, tool: tool, status: "started")
            let at = event.occurredAtMillis
            switch event.type {
            case ToolCallStarted.eventType:
                execution.started = execution.started ?? at
            case ToolSucceeded.eventType:
                if execution.status != "failed" {
                    let done = try event.decode(ToolSucceeded.self)
                    execution.status = "succeeded"
                    execution.finished = execution.finished ?? at
                    execution.duration = execution.duration ?? done.durationMs
                }
            default:
                if execution.status != "succeeded" {
                    let failed = try event.decode(ToolFailed.self)
                    execution.status = "failed"
                    execution.finished = execution.finished ?? at
                    execution.duration = execution.duration ?? failed.durationMs
                    execution.errorCode = failed.error.code
                }
            }
            state[step] = execution
            changed.insert(step)
        }
        try BulkWrite.upsert(
            schema: schema, table: "tool_executions",
            columns: [
                "step_id uuid", "plan_id uuid", "conversation_id", "tenant_id", "turn_id uuid", "tool", "status", "started_at timestamptz",
                "finished_at timestamptz", "duration_ms integer", "error_code",
            ],
            conflict: ["step_id"], update: true,
            rows: changed.sorted().compactMap { step -> [String?]? in
                guard let e = state[step] else { return nil }
                return [step, e.plan, e.conversation, e.tenant, e.turn, e.tool, e.status, e.started.map(Timestamp.format(millis:)),
                        e.finished.map(Timestamp.format(millis:)), e.duration.map(String.init), e.errorCode]
            }, in: connection)
    }
}
