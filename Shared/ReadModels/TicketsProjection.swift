public import EventBus
public import Events
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
    public let version = 1
    public let tables = ["tickets", "ticket_facts", "ticket_decisions"]
    public let interestedIn: Set<String>? = [
        MessageReceived.eventType, DecisionMade.eventType, ClarificationRequested.eventType, PlanProposed.eventType,
        StepVerified.eventType, ReplyDelivered.eventType, HandoverRequested.eventType,
    ]

    public init(schema: String = "cases") { self.schema = schema }

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

    public func apply(_ event: EventEnvelope, position: LogPosition, in connection: PostgresConnection) throws {
        let at = event.occurredAt
        let id = event.conversationID
        switch event.type {
        case MessageReceived.eventType:
            let message = try event.decode(MessageReceived.self)
            try connection.query("""
                INSERT INTO \(identifier: schema).tickets (conversation_id, tenant_id, customer_id, status, opened_at, updated_at)
                VALUES (\(id), \(event.tenantID), \(message.customerID), 'open', \(at), \(at))
                ON CONFLICT (conversation_id) DO UPDATE SET
                    status = CASE WHEN tickets.status = 'handed_over' THEN tickets.status ELSE 'open' END,
                    updated_at = GREATEST(tickets.updated_at, EXCLUDED.updated_at)
                """)
        case DecisionMade.eventType:
            let decision = try event.decode(DecisionMade.self)
            try connection.query("""
                INSERT INTO \(identifier: schema).ticket_decisions (event_id, conversation_id, turn_id, brain, intent, next_action, confidence, explain, decided_at)
                VALUES (\(event.id), \(id), \(event.correlationID), \(decision.brain), \(decision.intent), \(decision.nextAction.rawValue), \(decision.confidence), \(decision.explain), \(at))
                ON CONFLICT (event_id) DO NOTHING
                """)
            try touch(id, at: at, intent: decision.intent, in: connection)
            for name in decision.entities.keys.sorted() {
                let slot = decision.entities[name]!
                try setFact(id, name: name, value: slot.value, provenance: slot.source.rawValue, event: event, in: connection)
            }
        case ClarificationRequested.eventType:
            try touch(id, at: at, status: "awaiting_customer", in: connection)
        case PlanProposed.eventType:
            let plan = try event.decode(PlanProposed.self)
            try touch(id, at: at, workflow: plan.steps.map(\.tool).joined(separator: ","), in: connection)
        case StepVerified.eventType:
            let verified = try event.decode(StepVerified.self)
            guard case .object(let fields) = verified.result else { return }
            for name in fields.keys.sorted() {
                let value: String
                switch fields[name]! {
                case .string(let text): value = text
                case .number, .bool: value = String(decoding: fields[name]!.serialized(), as: UTF8.self)
                default: continue
                }
                try setFact(id, name: "\(verified.tool).\(name)", value: value, provenance: "tool", event: event, in: connection)
            }
        case ReplyDelivered.eventType:
            let reply = try event.decode(ReplyDelivered.self)
            if reply.kind == .answer { try touch(id, at: at, status: "answered", in: connection) }
        case HandoverRequested.eventType:
            try touch(id, at: at, status: "handed_over", in: connection)
        default:
            return
        }
    }

    func touch(_ id: String, at: Date, status: String? = nil, intent: String? = nil, workflow: String? = nil, in connection: PostgresConnection) throws {
        try connection.query("""
            UPDATE \(identifier: schema).tickets SET
                status = CASE WHEN status = 'handed_over' THEN status ELSE coalesce(\(status)::text, status) END,
                intent = coalesce(\(intent)::text, intent),
                workflow = coalesce(\(workflow)::text, workflow),
                updated_at = GREATEST(updated_at, \(at))
            WHERE conversation_id = \(id)
            """)
    }

    /// What the customer said outranks anything inferred; tools and the customer overwrite.
    func setFact(_ id: String, name: String, value: String, provenance: String, event: EventEnvelope, in connection: PostgresConnection) throws {
        try connection.query("""
            INSERT INTO \(identifier: schema).ticket_facts (conversation_id, name, value, provenance, set_by_event, set_at)
            VALUES (\(id), \(name), \(value), \(provenance), \(event.id), \(event.occurredAt))
            ON CONFLICT (conversation_id, name) DO UPDATE SET
                value = EXCLUDED.value, provenance = EXCLUDED.provenance, set_by_event = EXCLUDED.set_by_event, set_at = EXCLUDED.set_at
            WHERE NOT (ticket_facts.provenance = 'customer' AND EXCLUDED.provenance = 'inferred')
              AND (ticket_facts.value, ticket_facts.provenance) IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.provenance)
            """)
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

    public init(schema: String = "executions") { self.schema = schema }

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

    public func apply(_ event: EventEnvelope, position: LogPosition, in connection: PostgresConnection) throws {
        let at = event.occurredAt
        switch event.type {
        case ToolCallStarted.eventType:
            let started = try event.decode(ToolCallStarted.self)
            try upsert(event, step: started.stepID, plan: started.planID, tool: started.tool, in: connection)
            try connection.query("UPDATE \(identifier: schema).tool_executions SET started_at = coalesce(started_at, \(at)) WHERE step_id = \(started.stepID)")
        case ToolSucceeded.eventType:
            let done = try event.decode(ToolSucceeded.self)
            try upsert(event, step: done.stepID, plan: done.planID, tool: done.tool, in: connection)
            try connection.query("""
                UPDATE \(identifier: schema).tool_executions SET status = 'succeeded', finished_at = coalesce(finished_at, \(at)), duration_ms = coalesce(duration_ms, \(done.durationMs))
                WHERE step_id = \(done.stepID) AND status <> 'failed'
                """)
        case ToolFailed.eventType:
            let failed = try event.decode(ToolFailed.self)
            try upsert(event, step: failed.stepID, plan: failed.planID, tool: failed.tool, in: connection)
            try connection.query("""
                UPDATE \(identifier: schema).tool_executions SET status = 'failed', finished_at = coalesce(finished_at, \(at)), duration_ms = coalesce(duration_ms, \(failed.durationMs)), error_code = \(failed.error.code)
                WHERE step_id = \(failed.stepID) AND status <> 'succeeded'
                """)
        default:
            return
        }
    }

    func upsert(_ event: EventEnvelope, step: UUID, plan: UUID, tool: String, in connection: PostgresConnection) throws {
        try connection.query("""
            INSERT INTO \(identifier: schema).tool_executions (step_id, plan_id, conversation_id, tenant_id, turn_id, tool, status)
            VALUES (\(step), \(plan), \(event.conversationID), \(event.tenantID), \(event.correlationID), \(tool), 'started')
            ON CONFLICT (step_id) DO NOTHING
            """)
    }
}
