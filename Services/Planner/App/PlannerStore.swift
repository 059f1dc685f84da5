import Events
import Foundation
import JSON
import Postgres

/// The planner's own tables (schema `planner`): case state per conversation, plans per turn, the
/// customer's memory and consent, and the ids of events already handled.
///
/// Reads never write. Everything handling one event changes is written by `commit` (or
/// `recordConsent`), in one transaction with the event's id in `processed_events`. The one
/// deliberate exception is the decision journal (`journal`), written before publishing when a
/// model decided.
struct PlannerStore: Sendable {
    let pool: PostgresPool

    static let migrations: [Migration] = [
        Migration(version: 1, name: "planner_state", sql: """
            CREATE TABLE processed_events (
                event_id uuid PRIMARY KEY,
                event_type text NOT NULL,
                processed_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE conversations (
                conversation_id text PRIMARY KEY,
                tenant_id text NOT NULL,
                state jsonb NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE turns (
                plan_id uuid PRIMARY KEY,
                turn_id uuid NOT NULL,
                conversation_id text NOT NULL,
                intent text NOT NULL,
                step_ids jsonb NOT NULL,
                results jsonb NOT NULL DEFAULT '{}'
            );
            CREATE INDEX turns_conversation ON turns (conversation_id);
            """),
        Migration(version: 2, name: "decision_journal", sql: """
            ALTER TABLE turns ADD COLUMN steps jsonb NOT NULL DEFAULT '[]', ADD COLUMN iteration integer NOT NULL DEFAULT 0;
            CREATE TABLE customer_consent (
                tenant_id text NOT NULL,
                customer_id text NOT NULL,
                granted boolean NOT NULL,
                ttl_seconds integer NOT NULL,
                changed_at timestamptz NOT NULL,
                PRIMARY KEY (tenant_id, customer_id)
            );
            CREATE TABLE customer_memory (
                tenant_id text NOT NULL,
                customer_id text NOT NULL,
                name text NOT NULL,
                value text NOT NULL,
                said_at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                PRIMARY KEY (tenant_id, customer_id, name)
            );
            CREATE TABLE episodes (
                tenant_id text NOT NULL,
                customer_id text NOT NULL,
                turn_id uuid NOT NULL,
                conversation_id text NOT NULL,
                request text NOT NULL,
                intent text NOT NULL,
                tools text NOT NULL,
                outcome text NOT NULL,
                at timestamptz NOT NULL,
                expires_at timestamptz NOT NULL,
                PRIMARY KEY (tenant_id, customer_id, turn_id)
            );
            CREATE TABLE decision_journal (
                event_id uuid PRIMARY KEY,
                outputs jsonb NOT NULL,
                state jsonb NOT NULL,
                turn jsonb,
                recorded_at timestamptz NOT NULL DEFAULT now()
            );
            """),
        Migration(version: 3, name: "turn_status", sql: """
            ALTER TABLE turns ADD COLUMN status text NOT NULL DEFAULT 'awaiting_results'
                CHECK (status IN ('awaiting_results', 'concluded', 'failed'));
            """),
        Migration(version: 4, name: "turn_ladder", sql: """
            ALTER TABLE turns
                ADD COLUMN confidence double precision,
                ADD COLUMN facts jsonb NOT NULL DEFAULT '{}',
                DROP CONSTRAINT turns_status_check,
                ADD CONSTRAINT turns_status_check CHECK (status IN ('awaiting_results', 'concluded', 'failed', 'declined'));
            """),
        Migration(version: 5, name: "turn_budget", sql: """
            ALTER TABLE turns ADD COLUMN deadline_ms bigint, ADD COLUMN tokens_used integer NOT NULL DEFAULT 0;
            """),
        Migration(version: 6, name: "turn_progress", sql: """
            ALTER TABLE turns ADD COLUMN earlier_results jsonb NOT NULL DEFAULT '[]';
            """),
    ]

    // MARK: Reads

    /// What handling one event starts from: whether it was handled already, the conversation's
    /// state, and the plan it is about. One round trip.
    struct Loaded: Sendable {
        var processed: Bool
        var state: ConversationState
        /// The row as the JSON of its columns, which is `PlanTurn`'s coded form (see `commit`).
        var turn: PlanTurn?
    }

    func load(_ event: EventEnvelope, plan: UUID? = nil) async throws -> Loaded {
        let rows = try await pool.query("""
            SELECT EXISTS (SELECT 1 FROM planner.processed_events WHERE event_id = \(event.id)) AS processed,
                   (SELECT state::text FROM planner.conversations WHERE conversation_id = \(event.conversationID)) AS state,
                   (SELECT to_jsonb(t)::text FROM planner.turns t WHERE t.plan_id = \(plan)) AS turn
            """)
        let row = rows[0]
        return Loaded(
            processed: try row.decode("processed", as: Bool.self),
            state: try row.decode("state", as: String?.self).map { try StoredJSON.decode(ConversationState.self, from: $0) } ?? ConversationState(),
            turn: try row.decode("turn", as: String?.self).map { try StoredJSON.decode(PlanTurn.self, from: $0) })
    }

    /// What a consenting customer told us before and has not expired. Expired facts are deleted
    /// by the `commit` that records the customer's next message.
    func memory(tenant: String, customer: String) async throws -> [(name: String, value: String)] {
        try await pool.query("""
            SELECT m.name, m.value FROM planner.customer_memory m
            JOIN planner.customer_consent c ON c.tenant_id = m.tenant_id AND c.customer_id = m.customer_id AND c.granted
            WHERE m.tenant_id = \(tenant) AND m.customer_id = \(customer) AND m.expires_at > now() ORDER BY m.name
            """).map { (name: try $0.decode("name", as: String.self), value: try $0.decode("value", as: String.self)) }
    }

    /// Past turns of the customer (other conversations) most similar to `text` by full-text
    /// rank, newest first among equals; nothing without consent.
    func episodes(tenant: String, customer: String, excluding conversation: String, similarTo text: String) async throws -> [String] {
        let rows = try await pool.query("""
            SELECT e.at, e.request, e.intent, e.tools, e.outcome,
                   ts_rank(to_tsvector('english', e.request), replace(plainto_tsquery('english', \(text))::text, '&', '|')::tsquery) AS rank
            FROM planner.episodes e
            JOIN planner.customer_consent c ON c.tenant_id = e.tenant_id AND c.customer_id = e.customer_id AND c.granted
            WHERE e.tenant_id = \(tenant) AND e.customer_id = \(customer) AND e.conversation_id <> \(conversation) AND e.expires_at > now()
            ORDER BY rank DESC, e.at DESC LIMIT 3
            """)
        return try rows.compactMap { row in
            guard try row.decode("rank", as: Double.self) > 0 else { return nil }
            let at = try row.decode("at", as: Date.self)
            let tools = try row.decode("tools", as: String.self)
            return "\(Timestamp.format(millis: Int64(at.timeIntervalSince1970 * 1000)).prefix(10)): asked \"\(try row.decode("request", as: String.self))\"; "
                + "intent \(try row.decode("intent", as: String.self))\(tools.isEmpty ? "" : ", tools " + tools); \(try row.decode("outcome", as: String.self))"
        }
    }

    // MARK: The decision journal

    /// What a model decided for an event, before its events are appended.
    struct Journaled: Sendable {
        var outputs: [EventEnvelope]
        var state: ConversationState
        /// The plan the decision opened, if any.
        var turn: PlanTurn?
    }

    /// The deliberate exception to one transaction per event: a model answers differently each
    /// time, so what it decided must be durable before it is published. A re-run after a crash
    /// then appends exactly the same events (same ids, same content) instead of deciding again;
    /// `commit` deletes the entry in the transaction that marks the event handled.
    func journal(_ event: EventEnvelope, _ entry: Journaled) async throws {
        let outputs = try StoredJSON.encode(events: entry.outputs)
        let state = try StoredJSON.encode(entry.state)
        let turn = try entry.turn.map { try StoredJSON.encode($0) }
        try await pool.query("""
            INSERT INTO planner.decision_journal (event_id, outputs, state, turn) VALUES (\(event.id), \(outputs)::jsonb, \(state)::jsonb, \(turn)::jsonb)
            ON CONFLICT (event_id) DO NOTHING
            """)
    }

    func journaled(_ eventID: UUID) async throws -> Journaled? {
        let rows = try await pool.query("SELECT outputs::text AS outputs, state::text AS state, turn::text AS turn FROM planner.decision_journal WHERE event_id = \(eventID)")
        guard let row = rows.first else { return nil }
        return Journaled(
            outputs: try StoredJSON.decodeEvents(try row.decode("outputs", as: String.self)),
            state: try StoredJSON.decode(ConversationState.self, from: try row.decode("state", as: String.self)),
            turn: try row.decode("turn", as: String?.self).map { try StoredJSON.decode(PlanTurn.self, from: $0) })
    }

    // MARK: Writes, one transaction per event

    /// Profile facts to remember for a customer; written only if the customer consented.
    struct MemoryWrite: Sendable {
        var tenant: String
        var customer: String
        var facts: [String: String]
        var at: Date
    }

    /// One finished turn of a consenting customer: what they asked, what was done, how it ended.
    struct Episode: Sendable {
        var tenant: String
        var customer: String
        var turnID: UUID
        var conversationID: String
        var request: String
        var intent: String
        var tools: [String]
        var outcome: String
        var at: Date
    }

    /// Everything handling one event changes; nothing at all just marks it handled.
    struct Commit: Sendable {
        var state: ConversationState?
        /// New or changed plan turns.
        var turns: [PlanTurn] = []
        var memory: MemoryWrite?
        var episode: Episode?
    }

    /// Records the event as handled together with what it changed, atomically: one statement
    /// whose parts all hang on the `processed_events` insert, so when another instance handled
    /// the event meanwhile (a rebalance overlap) nothing changes and its result is kept. Only a
    /// commit with customer memory adds statements (in one transaction). Returns whether this
    /// call recorded the event.
    @discardableResult
    func commit(_ event: EventEnvelope, _ commit: Commit) async throws -> Bool {
        let statement = try Self.commitStatement(event, commit)
        guard let memory = commit.memory else {
            return try await pool.query(statement)[0].decode("handled", as: Int.self) == 1
        }
        return try await pool.transaction { connection in
            guard try connection.query(statement)[0].decode("handled", as: Int.self) == 1 else { return false }
            try Self.save(memory, on: connection)
            return true
        }
    }

    /// The statement `commit` runs: data-modifying CTEs that each read `done`, the inserted
    /// event id (no row when the event was handled already).
    static func commitStatement(_ event: EventEnvelope, _ commit: Commit) throws -> PostgresQuery {
        var binds: [PostgresValue] = []
        func bind(_ value: PostgresValue) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        let eventID = bind(PostgresValue(event.id))
        var parts = [
            "done AS (INSERT INTO planner.processed_events (event_id, event_type) VALUES (\(eventID), \(bind(PostgresValue(event.type)))) ON CONFLICT DO NOTHING RETURNING event_id)",
            "journal AS (DELETE FROM planner.decision_journal WHERE event_id IN (SELECT event_id FROM done))",
        ]
        if let state = commit.state {
            parts.append("""
                conversation AS (INSERT INTO planner.conversations (conversation_id, tenant_id, state)
                    SELECT \(bind(PostgresValue(event.conversationID))), \(bind(PostgresValue(event.tenantID))), \(bind(PostgresValue(try StoredJSON.encode(state))))::jsonb FROM done
                    ON CONFLICT (conversation_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now())
                """)
        }
        // One row per plan: two changes of one row in one statement would be unpredictable.
        var seen = Set<UUID>()
        let turns = commit.turns.reversed().filter { seen.insert($0.planID).inserted }.reversed()
        for (index, turn) in turns.enumerated() {
            // `PlanTurn`'s coded form, spread over the columns of the same names.
            parts.append("""
                turn\(index) AS (INSERT INTO planner.turns (plan_id, turn_id, conversation_id, intent, step_ids, steps, iteration, results, status, confidence, facts, deadline_ms, tokens_used, earlier_results)
                    SELECT r.plan_id, r.turn_id, r.conversation_id, r.intent, r.step_ids, r.steps, r.iteration, r.results, r.status, r.confidence, r.facts,
                           r.deadline_ms, r.tokens_used, r.earlier_results
                    FROM done, jsonb_populate_record(NULL::planner.turns, \(bind(PostgresValue(try StoredJSON.encode(turn))))::jsonb) r
                    ON CONFLICT (plan_id) DO UPDATE SET results = EXCLUDED.results, status = EXCLUDED.status, tokens_used = EXCLUDED.tokens_used)
                """)
        }
        if let episode = commit.episode {
            // Kept like the customer's other memory: only with consent, until it expires; the
            // customer's expired episodes (other turns) go in the same statement.
            let (tenant, customer, turnID) = (bind(PostgresValue(episode.tenant)), bind(PostgresValue(episode.customer)), bind(PostgresValue(episode.turnID)))
            let at = bind(PostgresValue(episode.at))
            parts.append("""
                expired AS (DELETE FROM planner.episodes WHERE tenant_id = \(tenant) AND customer_id = \(customer) AND turn_id <> \(turnID)
                    AND expires_at <= now() AND EXISTS (SELECT 1 FROM done))
                """)
            parts.append("""
                episode AS (INSERT INTO planner.episodes (tenant_id, customer_id, turn_id, conversation_id, request, intent, tools, outcome, at, expires_at)
                    SELECT c.tenant_id, c.customer_id, \(turnID), \(bind(PostgresValue(episode.conversationID))), \(bind(PostgresValue(episode.request))),
                           \(bind(PostgresValue(episode.intent))), \(bind(PostgresValue(episode.tools.joined(separator: ", ")))), \(bind(PostgresValue(episode.outcome))),
                           \(at), \(at)::timestamptz + make_interval(secs => c.ttl_seconds)
                    FROM done, planner.customer_consent c WHERE c.tenant_id = \(tenant) AND c.customer_id = \(customer) AND c.granted
                    ON CONFLICT (tenant_id, customer_id, turn_id) DO UPDATE SET tools = EXCLUDED.tools, outcome = EXCLUDED.outcome)
                """)
        }
        return PostgresQuery(unsafeSQL: "WITH " + parts.joined(separator: ",\n") + "\nSELECT count(*)::int AS handled FROM done", binds: binds)
    }

    /// Deletes the customer's expired facts, then keeps what they said (with consent) until the
    /// consent's time to live has passed.
    private static func save(_ memory: MemoryWrite, on connection: PostgresConnection) throws {
        try connection.query("DELETE FROM planner.customer_memory WHERE tenant_id = \(memory.tenant) AND customer_id = \(memory.customer) AND expires_at <= now()")
        for (name, value) in memory.facts.sorted(by: { $0.key < $1.key }) {
            try connection.query("""
                INSERT INTO planner.customer_memory (tenant_id, customer_id, name, value, said_at, expires_at)
                SELECT c.tenant_id, c.customer_id, \(name), \(value), \(memory.at), \(memory.at)::timestamptz + make_interval(secs => c.ttl_seconds)
                FROM planner.customer_consent c WHERE c.tenant_id = \(memory.tenant) AND c.customer_id = \(memory.customer) AND c.granted
                ON CONFLICT (tenant_id, customer_id, name) DO UPDATE SET value = EXCLUDED.value, said_at = EXCLUDED.said_at, expires_at = EXCLUDED.expires_at
                """)
        }
    }

    /// A consent change: withdrawal erases what was remembered, in the same transaction.
    func recordConsent(event: EventEnvelope, _ consent: MemoryConsentChanged) async throws {
        try await pool.transaction { connection in
            let inserted = try connection.query("INSERT INTO planner.processed_events (event_id, event_type) VALUES (\(event.id), \(event.type)) ON CONFLICT DO NOTHING")
            guard inserted.affectedRows == 1 else { return }
            try connection.query("""
                INSERT INTO planner.customer_consent (tenant_id, customer_id, granted, ttl_seconds, changed_at)
                VALUES (\(event.tenantID), \(consent.customerID), \(consent.granted), \(consent.ttlSeconds), \(event.occurredAt))
                ON CONFLICT (tenant_id, customer_id) DO UPDATE SET granted = EXCLUDED.granted, ttl_seconds = EXCLUDED.ttl_seconds, changed_at = EXCLUDED.changed_at
                WHERE customer_consent.changed_at <= EXCLUDED.changed_at
                """)
            if !consent.granted {
                try connection.query("DELETE FROM planner.customer_memory WHERE tenant_id = \(event.tenantID) AND customer_id = \(consent.customerID)")
                try connection.query("DELETE FROM planner.episodes WHERE tenant_id = \(event.tenantID) AND customer_id = \(consent.customerID)")
            }
        }
    }
}

/// How the planner's stored JSON maps to its types: the one place.
enum StoredJSON {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        try JSONValueEncoder().encode(value).serializedString()
    }

    static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try JSONValueDecoder().decode(type, from: JSONValue.parse(text))
    }

    /// Envelopes exactly as on the log.
    static func encode(events: [EventEnvelope]) throws -> String {
        JSONValue.array(try events.map { try JSONValue.parse(EventCodec.encode($0)) }).serializedString()
    }

    static func decodeEvents(_ text: String) throws -> [EventEnvelope] {
        try (JSONValue.parse(text).arrayValue ?? []).map { try EventCodec.decode($0.serialized()) }
    }
}
