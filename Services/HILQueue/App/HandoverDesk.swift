import EventBus
public import Events
import Foundation
import JSON
import Logging
import Metrics
public import Postgres
import Projections

/// Where human agents take and work handed-over conversations: the write side of the human
/// queue, in Postgres schema `hilqueue_desk`, shared by every HILQueue replica.
///
/// Each conversation with humans has one row (`handovers`) that commands lock (`FOR UPDATE`),
/// check against `ConversationPhase` (an illegal transition changes nothing and is refused),
/// update, and record their event in `outbox` in the same transaction; the event is appended
/// after the commit and its outbox row deleted. A replica that dies in between leaves the row,
/// and the sweeper appends it (the same event id). Claims take the next row with
/// `FOR UPDATE SKIP LOCKED` while holding the agent's row, so every conversation goes to one
/// agent and no agent goes over capacity, however many claim at once.
public struct HandoverDesk: Sendable {
    let pool: PostgresPool
    let producer: String
    let publish: @Sendable ([EventEnvelope]) async throws -> Void
    public var settings: Settings
    /// `hilqueue_desk`; tests use their own.
    let schema: String

    public struct Settings: Sendable {
        /// How long a queued conversation may wait before `HandoverSLABreached`.
        public var slaSeconds: Int
        /// An online agent without a heartbeat for this long goes offline and their
        /// conversations go back to the queue.
        public var heartbeatTimeoutSeconds: Int
        /// An outbox row older than this was stranded by a replica that died after committing.
        public var strandedAfterSeconds: Int
        public init(slaSeconds: Int = 300, heartbeatTimeoutSeconds: Int = 60, strandedAfterSeconds: Int = 5) {
            (self.slaSeconds, self.heartbeatTimeoutSeconds, self.strandedAfterSeconds) = (slaSeconds, heartbeatTimeoutSeconds, strandedAfterSeconds)
        }
    }

    public init(
        pool: PostgresPool, producer: String, settings: Settings = Settings(), schema: String = HandoverDesk.schema,
        publish: @escaping @Sendable ([EventEnvelope]) async throws -> Void
    ) {
        (self.pool, self.producer, self.settings, self.schema, self.publish) = (pool, producer, settings, schema, publish)
    }

    public static let schema = "hilqueue_desk"
    public static let migrations: [Migration] = [
        Migration(version: 1, name: "agents_handovers_outbox", sql: """
            CREATE TABLE agents (
                tenant_id text NOT NULL,
                agent_id text NOT NULL,
                name text NOT NULL,
                skills text[] NOT NULL,
                capacity integer NOT NULL CHECK (capacity >= 0),
                status text NOT NULL CHECK (status IN ('online', 'away', 'offline')),
                last_heartbeat_at timestamptz,
                status_changed_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, agent_id)
            );
            CREATE TABLE handovers (
                conversation_id text PRIMARY KEY,
                tenant_id text NOT NULL,
                handover_id uuid NOT NULL,
                phase text NOT NULL,
                queue text NOT NULL,
                priority integer NOT NULL,
                agent_id text,
                sla_breached boolean NOT NULL DEFAULT false,
                requested_at timestamptz NOT NULL,
                queued_at timestamptz NOT NULL,
                claimed_at timestamptz
            );
            CREATE INDEX handovers_next ON handovers (tenant_id, queue, sla_breached DESC, priority, requested_at) WHERE phase = 'pending_human';
            CREATE INDEX handovers_agent ON handovers (agent_id) WHERE phase = 'human_active';
            CREATE TABLE outbox (
                event_id uuid PRIMARY KEY,
                envelope bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            """),
    ]

    // MARK: Agents

    public enum AgentStatus: String, Sendable, CaseIterable, Codable {
        case online, away, offline
    }

    public struct Agent: Sendable, Equatable {
        public var agentID: String
        public var name: String
        public var skills: [String]
        public var capacity: Int
        public var status: AgentStatus
        /// Conversations the agent holds now.
        public var load: Int
    }

    /// Creates or replaces an agent's profile (skills, capacity, name; status when given).
    public func saveAgent(tenant: String, id: String, name: String, skills: [String], capacity: Int, status: AgentStatus?) async throws {
        _ = try await pool.query("""
            INSERT INTO \(identifier: schema).agents (tenant_id, agent_id, name, skills, capacity, status)
            VALUES (\(tenant), \(id), \(name), \(BulkWrite.arrayLiteral(skills))::text[], \(capacity), \((status ?? .offline).rawValue))
            ON CONFLICT (tenant_id, agent_id) DO UPDATE SET name = EXCLUDED.name, skills = EXCLUDED.skills, capacity = EXCLUDED.capacity,
                status = COALESCE(\(status?.rawValue), agents.status),
                status_changed_at = CASE WHEN \(status?.rawValue)::text IS NULL THEN agents.status_changed_at ELSE now() END
            """)
        if status == .offline { try await releaseAll(of: id, tenant: tenant, cause: .agentOffline) }
    }

    public func agents(tenant: String) async throws -> [Agent] {
        let rows = try await pool.query("""
            SELECT a.agent_id, a.name, array_to_string(a.skills, ',') AS skills, a.capacity, a.status,
                   (SELECT count(*)::int FROM \(identifier: schema).handovers h WHERE h.agent_id = a.agent_id AND h.tenant_id = a.tenant_id AND h.phase = 'human_active') AS load
            FROM \(identifier: schema).agents a WHERE a.tenant_id = \(tenant) ORDER BY a.agent_id
            """)
        return try rows.map { row in
            let skills = try row.decode("skills", as: String.self)
            return Agent(
                agentID: try row.decode("agent_id"), name: try row.decode("name"), skills: skills.isEmpty ? [] : skills.split(separator: ",").map(String.init),
                capacity: try row.decode("capacity"), status: AgentStatus(rawValue: try row.decode("status")) ?? .offline, load: try row.decode("load"))
        }
    }

    public func agent(tenant: String, id: String) async throws -> Agent? {
        try await agents(tenant: tenant).first { $0.agentID == id }
    }

    public enum AgentChange: Sendable, Equatable {
        case done
        case unknownAgent
    }

    /// Sets an agent's status; going offline gives their conversations back to the queue.
    public func setStatus(tenant: String, agent: String, _ status: AgentStatus) async throws -> AgentChange {
        let rows = try await pool.query("""
            UPDATE \(identifier: schema).agents SET status = \(status.rawValue), status_changed_at = now(),
                last_heartbeat_at = CASE WHEN \(status.rawValue) = 'online' THEN now() ELSE last_heartbeat_at END
            WHERE tenant_id = \(tenant) AND agent_id = \(agent) RETURNING agent_id
            """)
        guard rows.first(where: { _ in true }) != nil else { return .unknownAgent }
        if status == .offline { try await releaseAll(of: agent, tenant: tenant, cause: .agentOffline) }
        return .done
    }

    /// The agent's inbox is open.
    public func heartbeat(tenant: String, agent: String) async throws -> AgentChange {
        let rows = try await pool.query("""
            UPDATE \(identifier: schema).agents SET last_heartbeat_at = now() WHERE tenant_id = \(tenant) AND agent_id = \(agent) RETURNING agent_id
            """)
        return rows.first(where: { _ in true }) == nil ? .unknownAgent : .done
    }

    // MARK: Queueing (the reactor to HandoverRequested)

    /// Puts a handed-over conversation in its queue: `HandoverQueued`, with an id derived from
    /// the request (a redelivered request appends the same event). A conversation already with
    /// humans stays where it is.
    public func enqueue(_ request: EventEnvelope) async throws {
        let payload = try request.decode(HandoverRequested.self)
        let queue = Self.queue(for: payload.skills)
        let priority = payload.reason.isPlatformFailure ? 1 : 2
        let handoverID = request.correlationID
        let accepted = try await pool.transaction { connection -> Bool in
            let existing = try connection.query("""
                SELECT phase, handover_id FROM \(identifier: schema).handovers WHERE conversation_id = \(request.conversationID) FOR UPDATE
                """).first(where: { _ in true })
            if let existing {
                let phase = ConversationPhase(rawValue: try existing.decode("phase", as: String.self))
                if try existing.decode("handover_id", as: UUID.self) == handoverID { return true }
                if phase?.isWithHumans == true { return false }
            }
            _ = try connection.query("""
                INSERT INTO \(identifier: schema).handovers (conversation_id, tenant_id, handover_id, phase, queue, priority, requested_at, queued_at)
                VALUES (\(request.conversationID), \(request.tenantID), \(handoverID), 'pending_human', \(queue), \(priority),
                        to_timestamp(\(Double(request.occurredAtMillis) / 1000)), now())
                ON CONFLICT (conversation_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, handover_id = EXCLUDED.handover_id, phase = 'pending_human',
                    queue = EXCLUDED.queue, priority = EXCLUDED.priority, agent_id = NULL, sla_breached = false,
                    requested_at = EXCLUDED.requested_at, queued_at = now(), claimed_at = NULL
                """)
            return true
        }
        guard accepted else { return }
        try await publish([try request.reaction(HandoverQueued(queue: queue, reason: payload.reason, priority: priority), producer: producer)])
    }

    static func queue(for skills: [String]) -> String { skills.first ?? "general" }

    // MARK: Claims

    public enum ClaimOutcome: Sendable, Equatable {
        case claimed(conversationID: String, handoverID: UUID, queue: String)
        /// Nothing waiting matches the agent's skills.
        case nothingWaiting
        case unknownAgent
        case notOnline(AgentStatus)
        case atCapacity(Int)
    }

    /// Gives `agent` the next waiting conversation matching its skills: SLA-critical first,
    /// then priority, then the oldest request.
    public func claim(tenant: String, agent: String) async throws -> ClaimOutcome {
        let producer = self.producer
        let (outcome, event) = try await pool.transaction { connection -> (ClaimOutcome, EventEnvelope?) in
            guard let profile = try connection.query("""
                SELECT skills, capacity, status FROM \(identifier: schema).agents WHERE tenant_id = \(tenant) AND agent_id = \(agent) FOR UPDATE
                """).first(where: { _ in true }) else { return (.unknownAgent, nil) }
            let status = AgentStatus(rawValue: try profile.decode("status")) ?? .offline
            guard status == .online else { return (.notOnline(status), nil) }
            let capacity = try profile.decode("capacity", as: Int.self)
            let load = try Self.load(of: agent, tenant: tenant, schema: schema, in: connection)
            guard load < capacity else { return (.atCapacity(capacity), nil) }
            guard let next = try connection.query("""
                SELECT conversation_id, handover_id, queue, (extract(epoch FROM queued_at) * 1000)::bigint AS queued_ms FROM \(identifier: schema).handovers
                WHERE tenant_id = \(tenant) AND phase = 'pending_human' AND queue = ANY(\(try profile.decode("skills", as: String.self))::text[])
                ORDER BY sla_breached DESC, priority, requested_at LIMIT 1 FOR UPDATE SKIP LOCKED
                """).first(where: { _ in true }) else { return (.nothingWaiting, nil) }
            let conversation = try next.decode("conversation_id", as: String.self)
            let handoverID = try next.decode("handover_id", as: UUID.self)
            let queue = try next.decode("queue", as: String.self)
            Timer(label: "switchboard_hil_wait_seconds", dimensions: [("queue", queue)]).recordMilliseconds(EventEnvelope.nowMillis() - (try next.decode("queued_ms", as: Int64.self)))
            _ = try connection.query("""
                UPDATE \(identifier: schema).handovers SET phase = 'human_active', agent_id = \(agent), claimed_at = now() WHERE conversation_id = \(conversation)
                """)
            let event = try Self.event(HandoverClaimed(handoverID: handoverID, agentID: agent, queue: queue), conversation: conversation, tenant: tenant, handover: handoverID, producer: producer)
            try Self.record(event, schema: schema, in: connection)
            return (.claimed(conversationID: conversation, handoverID: handoverID, queue: queue), event)
        }
        if let event { try await append(event) }
        if case .claimed = outcome { Counter(label: "switchboard_hil_claims_total").increment() }
        return outcome
    }

    static func load(of agent: String, tenant: String, schema: String, in connection: PostgresConnection) throws -> Int {
        try connection.query("""
            SELECT count(*)::int AS n FROM \(identifier: schema).handovers WHERE tenant_id = \(tenant) AND agent_id = \(agent) AND phase = 'human_active'
            """).first(where: { _ in true })?.decode("n") ?? 0
    }

    // MARK: An agent's actions on a conversation it holds

    public enum Action: Sendable, Equatable {
        case reply(String)
        case note(String)
        case transferToAgent(String, note: String)
        case transferToQueue(String, note: String)
        case resolve(note: String)
        case handBack(note: String)

        var transition: ConversationPhase.Transition {
            switch self {
            case .reply: .agentReplied
            case .note: .noteAdded
            case .transferToAgent: .transferredToAgent
            case .transferToQueue: .returnedToQueue
            case .resolve: .resolved
            case .handBack: .handedBack
            }
        }
    }

    public enum ActionOutcome: Sendable, Equatable {
        case done(EventEnvelope)
        /// No handover for this conversation (of this tenant).
        case unknownConversation
        /// Not legal in the conversation's phase (the state machine said no).
        case illegal(phase: ConversationPhase, transition: ConversationPhase.Transition)
        /// Another agent holds it.
        case notHolder(holder: String?)
        /// A transfer's target agent cannot take it.
        case targetUnavailable(String)
    }

    public func act(tenant: String, conversation: String, agent: String, _ action: Action) async throws -> ActionOutcome {
        let producer = self.producer
        let outcome = try await pool.transaction { connection -> ActionOutcome in
            guard let row = try connection.query("""
                SELECT phase, handover_id, agent_id, (extract(epoch FROM claimed_at) * 1000)::bigint AS claimed_ms FROM \(identifier: schema).handovers
                WHERE conversation_id = \(conversation) AND tenant_id = \(tenant) FOR UPDATE
                """).first(where: { _ in true }) else { return .unknownConversation }
            let phase = try ConversationPhase.stored(try row.decode("phase", as: String.self))
            guard let next = phase.applying(action.transition) else { return .illegal(phase: phase, transition: action.transition) }
            let holder = try row.decode("agent_id", as: String?.self)
            guard holder == agent else { return .notHolder(holder: holder) }
            let handoverID = try row.decode("handover_id", as: UUID.self)
            func event<P: EventPayload>(_ payload: P) throws -> EventEnvelope {
                try Self.event(payload, conversation: conversation, tenant: tenant, handover: handoverID, producer: producer)
            }
            let envelope: EventEnvelope
            switch action {
            case .reply(let text):
                envelope = try event(AgentReplied(handoverID: handoverID, messageID: UUID(), agentID: agent, text: text))
            case .note(let text):
                envelope = try event(InternalNoteAdded(handoverID: handoverID, noteID: UUID(), agentID: agent, text: text))
            case .transferToAgent(let target, let note):
                guard let profile = try connection.query("""
                    SELECT capacity, status FROM \(identifier: schema).agents WHERE tenant_id = \(tenant) AND agent_id = \(target) FOR UPDATE
                    """).first(where: { _ in true }), target != agent,
                    try profile.decode("status", as: String.self) == AgentStatus.online.rawValue,
                    try Self.load(of: target, tenant: tenant, schema: schema, in: connection) < profile.decode("capacity", as: Int.self)
                else { return .targetUnavailable(target) }
                _ = try connection.query("UPDATE \(identifier: schema).handovers SET agent_id = \(target), claimed_at = now() WHERE conversation_id = \(conversation)")
                envelope = try event(HandoverTransferred(handoverID: handoverID, fromAgent: agent, toAgent: target, toQueue: nil, note: note))
            case .transferToQueue(let queue, let note):
                _ = try connection.query("""
                    UPDATE \(identifier: schema).handovers SET phase = \(next.rawValue), agent_id = NULL, queue = \(queue), queued_at = now(), claimed_at = NULL
                    WHERE conversation_id = \(conversation)
                    """)
                envelope = try event(HandoverTransferred(handoverID: handoverID, fromAgent: agent, toAgent: nil, toQueue: queue, note: note))
            case .resolve(let note):
                envelope = try event(ConversationResolved(handoverID: handoverID, agentID: agent, note: note))
            case .handBack(let note):
                envelope = try event(HandedBackToAI(handoverID: handoverID, agentID: agent, note: note))
            }
            _ = try connection.query("UPDATE \(identifier: schema).handovers SET phase = \(next.rawValue) WHERE conversation_id = \(conversation)")
            if next != .humanActive, let claimed = try row.decode("claimed_ms", as: Int64?.self) {
                Timer(label: "switchboard_hil_handle_seconds").recordMilliseconds(EventEnvelope.nowMillis() - claimed)
            }
            try Self.record(envelope, schema: schema, in: connection)
            return .done(envelope)
        }
        if case .done(let envelope) = outcome { try await append(envelope) }
        return outcome
    }

    // MARK: Releases, SLA and stranded events (the sweeper)

    /// Gives every conversation an agent holds back to its queue.
    func releaseAll(of agent: String, tenant: String, cause: HandoverReleaseCause) async throws {
        let producer = self.producer
        let events = try await pool.transaction { connection -> [EventEnvelope] in
            let rows = try connection.query("""
                UPDATE \(identifier: schema).handovers SET phase = 'pending_human', agent_id = NULL, queued_at = now(), claimed_at = NULL
                WHERE tenant_id = \(tenant) AND agent_id = \(agent) AND phase = 'human_active' RETURNING conversation_id, handover_id
                """)
            return try rows.map { row in
                let handoverID = try row.decode("handover_id", as: UUID.self)
                let event = try Self.event(
                    HandoverReleased(handoverID: handoverID, agentID: agent, cause: cause), conversation: try row.decode("conversation_id"),
                    tenant: tenant, handover: handoverID, producer: producer)
                try Self.record(event, schema: schema, in: connection)
                return event
            }
        }
        for event in events { try await append(event) }
    }

    /// One pass of the clock-driven work: agents whose heartbeats stopped go offline (their
    /// conversations back to the queue), conversations past their SLA move to the front, and
    /// events a dead replica committed but never appended are appended.
    public func sweep() async throws {
        let silent = try await pool.query("""
            UPDATE \(identifier: schema).agents SET status = 'offline', status_changed_at = now()
            WHERE status = 'online' AND COALESCE(last_heartbeat_at, status_changed_at) < now() - make_interval(secs => \(settings.heartbeatTimeoutSeconds))
            RETURNING tenant_id, agent_id
            """)
        for row in silent {
            try await releaseAll(of: try row.decode("agent_id"), tenant: try row.decode("tenant_id"), cause: .heartbeatMissed)
        }
        let producer = self.producer
        let sla = settings.slaSeconds
        let breaches = try await pool.transaction { connection -> [EventEnvelope] in
            let rows = try connection.query("""
                UPDATE \(identifier: schema).handovers SET sla_breached = true, priority = 0
                WHERE phase = 'pending_human' AND NOT sla_breached AND queued_at < now() - make_interval(secs => \(sla))
                RETURNING conversation_id, tenant_id, handover_id, queue, (extract(epoch FROM now() - queued_at))::int AS waited
                """)
            return try rows.map { row in
                let handoverID = try row.decode("handover_id", as: UUID.self)
                let event = try Self.event(
                    HandoverSLABreached(handoverID: handoverID, queue: try row.decode("queue"), waitedSeconds: try row.decode("waited"), slaSeconds: sla, priority: 0),
                    conversation: try row.decode("conversation_id"), tenant: try row.decode("tenant_id"), handover: handoverID, producer: producer)
                try Self.record(event, schema: schema, in: connection)
                return event
            }
        }
        for event in breaches {
            try await append(event)
            Counter(label: "switchboard_hil_sla_breaches_total").increment()
        }
        let stranded = try await pool.query("""
            SELECT envelope FROM \(identifier: schema).outbox WHERE created_at < now() - make_interval(secs => \(settings.strandedAfterSeconds)) ORDER BY created_at LIMIT 100
            """)
        for row in stranded {
            try await append(try EventCodec.decode(try row.decode("envelope", as: [UInt8].self)))
        }
    }

    // MARK: Events

    static func event<P: EventPayload>(_ payload: P, conversation: String, tenant: String, handover: UUID, producer: String) throws -> EventEnvelope {
        try EventEnvelope.start(payload, conversationID: conversation, tenantID: tenant, producer: producer, correlationID: handover)
    }

    static func record(_ event: EventEnvelope, schema: String, in connection: PostgresConnection) throws {
        _ = try connection.query("INSERT INTO \(identifier: schema).outbox (event_id, envelope) VALUES (\(event.id), \(EventCodec.encode(event)))")
    }

    /// Appends a committed event and clears its outbox row.
    func append(_ event: EventEnvelope) async throws {
        try await publish([event])
        _ = try await pool.query("DELETE FROM \(identifier: schema).outbox WHERE event_id = \(event.id)")
    }
}

extension ConversationPhase {
    static func stored(_ raw: String) throws -> ConversationPhase {
        guard let phase = ConversationPhase(rawValue: raw) else { throw PostgresDecodingFailure("hilqueue_desk.handovers.phase holds '\(raw)'") }
        return phase
    }
}
