import Events
import Foundation
import JSON
import Projections
public import Postgres

/// The verifier's working state (schema `verifier`), written by its reactions like the
/// planner's and the executor's, so that a restart or a second replica continues where the
/// last left off:
///
/// - `tool_results`: the latest verified result of each tool in a conversation, only for tools
///   some rule of the pack reads (`results.get_order.total`);
/// - `held_steps`: steps whose rules read an earlier step of their plan, until its result is in;
/// - `approvals`: steps waiting for a human, and the first decision taken on each.
///
/// A turn with no rules and no writes reads and writes none of it.
public struct VerifierStore: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    public static let schema = "verifier"
    public static let migrations: [Migration] = [
        Migration(version: 1, name: "verifier_state", sql: """
            CREATE TABLE tool_results (
                tenant_id text NOT NULL,
                conversation_id text NOT NULL,
                tool text NOT NULL,
                step_id uuid NOT NULL,
                result jsonb NOT NULL,
                PRIMARY KEY (tenant_id, conversation_id, tool)
            );
            CREATE TABLE held_steps (
                step_id uuid PRIMARY KEY,
                plan_id uuid NOT NULL,
                tenant_id text NOT NULL,
                conversation_id text NOT NULL,
                step jsonb NOT NULL,
                context jsonb NOT NULL,
                waiting_for text[] NOT NULL,
                -- Kept after release, so a redelivered plan cannot hold the step again.
                released boolean NOT NULL DEFAULT false
            );
            CREATE INDEX held_steps_plan ON held_steps (plan_id) WHERE NOT released;
            CREATE TABLE approvals (
                step_id uuid PRIMARY KEY,
                approval_id uuid NOT NULL UNIQUE,
                plan_id uuid NOT NULL,
                tool text NOT NULL,
                args jsonb NOT NULL,
                risk_tier integer NOT NULL,
                status text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'granted', 'denied', 'expired')),
                decision_event uuid
            );
            """),
        // A later migration: databases already at version 1 get the table too.
        Migration(version: 2, name: "turn_steps", sql: """
            CREATE TABLE turn_steps (
                turn_id uuid NOT NULL,
                signature text NOT NULL,
                plan_id uuid NOT NULL,
                PRIMARY KEY (turn_id, signature)
            );
            """),
        // The approved step runs for the conversation's customer only.
        Migration(version: 3, name: "approval_customer", sql: "ALTER TABLE approvals ADD COLUMN customer_id text;"),
        // The facts each customer message gives for writes' arguments (the grounding rule),
        // written by the reaction to the message: the reaction to the plan that follows it in the
        // same partition reads them, which a projection committed after the batch cannot promise.
        Migration(version: 4, name: "customer_facts", sql: """
            CREATE TABLE customer_facts (
                tenant_id text NOT NULL,
                conversation_id text NOT NULL,
                token text NOT NULL,
                customer_id text NOT NULL,
                PRIMARY KEY (tenant_id, conversation_id, token)
            );
            CREATE INDEX customer_facts_by_customer ON customer_facts (tenant_id, customer_id);
            """),
    ]

    /// Records what a customer's message gives for arguments (idempotent).
    func recordCustomerFacts(tenant: String, conversation: String, customer: String, tokens: Set<String>) async throws {
        guard !tokens.isEmpty else { return }
        _ = try await pool.query("""
            INSERT INTO verifier.customer_facts (tenant_id, conversation_id, token, customer_id)
            SELECT \(tenant), \(conversation), token, \(customer) FROM unnest(\(BulkWrite.arrayLiteral(tokens.sorted()))::text[]) AS token
            ON CONFLICT DO NOTHING
            """)
    }

    /// Which of `tokens` the conversation's customer gave.
    func customerGave(_ tokens: Set<String>, tenant: String, conversation: String) async throws -> Set<String> {
        guard !tokens.isEmpty else { return [] }
        let rows = try await pool.query("""
            SELECT token FROM verifier.customer_facts
            WHERE tenant_id = \(tenant) AND conversation_id = \(conversation) AND token = ANY(\(BulkWrite.arrayLiteral(tokens.sorted()))::text[])
            """)
        return Set(try rows.map { try $0.decode("token", as: String.self) })
    }

    /// Erasure: the customer's facts (phone numbers among them) go.
    func forgetCustomer(tenant: String, customer: String) async throws {
        _ = try await pool.query("DELETE FROM verifier.customer_facts WHERE tenant_id = \(tenant) AND customer_id = \(customer)")
    }

    /// What a held step needs to be checked later.
    struct HeldContext: Codable, Sendable {
        var intent: String
        var confidence: Double?
        var facts: [String: String]
        /// Tools of the plan's earlier steps, for steps held behind more than one.
        var planTools: [String]
        var deadlineMillis: Int64?
        /// The conversation's customer (absent in contexts held before it was carried).
        var customerID: String? = nil
    }

    struct HeldStep: Sendable {
        var step: PlanStep
        var planID: UUID
        var context: HeldContext
        var waitingFor: [String]
    }

    func results(tenant: String, conversation: String) async throws -> [String: JSONValue] {
        let rows = try await pool.query("SELECT tool, result::text AS result FROM verifier.tool_results WHERE tenant_id = \(tenant) AND conversation_id = \(conversation)")
        var results: [String: JSONValue] = [:]
        for row in rows { results[try row.decode("tool", as: String.self)] = try JSONValue.parse(try row.decode("result", as: String.self)) }
        return results
    }

    func recordResult(tenant: String, conversation: String, tool: String, stepID: UUID, result: JSONValue) async throws {
        _ = try await pool.query("""
            INSERT INTO verifier.tool_results (tenant_id, conversation_id, tool, step_id, result)
            VALUES (\(tenant), \(conversation), \(tool), \(stepID), \(result.serializedString())::jsonb)
            ON CONFLICT (tenant_id, conversation_id, tool) DO UPDATE SET step_id = EXCLUDED.step_id, result = EXCLUDED.result
            """)
    }

    /// Stores held steps; `replacing` updates what a step still waits for.
    func hold(_ held: [HeldStep], tenant: String, conversation: String, replacing: Bool = false) async throws {
        guard !held.isEmpty else { return }
        try await pool.transaction { connection in
            for item in held {
                try connection.query("""
                    INSERT INTO verifier.held_steps (step_id, plan_id, tenant_id, conversation_id, step, context, waiting_for)
                    VALUES (\(item.step.stepID), \(item.planID), \(tenant), \(conversation), \(try Self.encode(item.step))::jsonb,
                            \(try Self.encode(item.context))::jsonb, string_to_array(\(item.waitingFor.joined(separator: ",")), ','))
                    ON CONFLICT (step_id) DO NOTHING
                    """)
                if replacing {
                    try connection.query("""
                        UPDATE verifier.held_steps SET waiting_for = string_to_array(\(item.waitingFor.joined(separator: ",")), ',')
                        WHERE step_id = \(item.step.stepID) AND NOT released
                        """)
                }
            }
        }
    }

    func heldSteps(plan: UUID) async throws -> [HeldStep] {
        let rows = try await pool.query("""
            SELECT plan_id, step::text AS step, context::text AS context, array_to_string(waiting_for, ',') AS waiting_for
            FROM verifier.held_steps WHERE plan_id = \(plan) AND NOT released ORDER BY step_id
            """)
        return try rows.map { row in
            HeldStep(
                step: try Self.decode(PlanStep.self, try row.decode("step", as: String.self)),
                planID: try row.decode("plan_id", as: UUID.self),
                context: try Self.decode(HeldContext.self, try row.decode("context", as: String.self)),
                waitingFor: try row.decode("waiting_for", as: String.self).split(separator: ",").map(String.init))
        }
    }

    func release(_ stepIDs: [UUID]) async throws {
        guard !stepIDs.isEmpty else { return }
        try await pool.transaction { connection in
            for id in stepIDs { try connection.query("UPDATE verifier.held_steps SET released = true WHERE step_id = \(id)") }
        }
    }

    /// Signatures of the steps earlier rounds of the turn proposed (not those of `excluding`).
    func turnSteps(_ turnID: UUID, excluding plan: UUID) async throws -> [String] {
        try await pool.query("SELECT signature FROM verifier.turn_steps WHERE turn_id = \(turnID) AND plan_id <> \(plan)").map { try $0.decode("signature", as: String.self) }
    }

    func recordTurnSteps(_ turnID: UUID, plan: UUID, signatures: [String]) async throws {
        guard !signatures.isEmpty else { return }
        try await pool.transaction { connection in
            for signature in signatures {
                try connection.query("INSERT INTO verifier.turn_steps (turn_id, signature, plan_id) VALUES (\(turnID), \(signature), \(plan)) ON CONFLICT DO NOTHING")
            }
        }
    }

    struct Approval: Sendable {
        var approvalID: UUID
        var planID: UUID
        var stepID: UUID
        var tool: String
        var args: JSONValue
        var riskTier: RiskTier
        var customerID: String? = nil
    }

    func requestApproval(_ approval: Approval) async throws {
        _ = try await pool.query("""
            INSERT INTO verifier.approvals (step_id, approval_id, plan_id, tool, args, risk_tier, customer_id)
            VALUES (\(approval.stepID), \(approval.approvalID), \(approval.planID), \(approval.tool), \(approval.args.serializedString())::jsonb, \(approval.riskTier.rawValue), \(approval.customerID))
            ON CONFLICT (step_id) DO NOTHING
            """)
    }

    enum Decision: String { case granted, denied, expired }

    /// Records `decision` if the approval is still open, or if this very event decided it
    /// before (a redelivery); returns the approval then, nil when another decision came first
    /// (or there is no such approval).
    func decide(approvalID: UUID, _ decision: Decision, event: UUID) async throws -> Approval? {
        let rows = try await pool.query("""
            UPDATE verifier.approvals SET status = \(decision.rawValue), decision_event = \(event)
            WHERE approval_id = \(approvalID) AND (status = 'requested' OR decision_event = \(event))
            RETURNING step_id, plan_id, tool, args::text AS args, risk_tier, customer_id
            """)
        guard let row = rows.first(where: { _ in true }) else { return nil }
        return Approval(
            approvalID: approvalID, planID: try row.decode("plan_id", as: UUID.self), stepID: try row.decode("step_id", as: UUID.self),
            tool: try row.decode("tool", as: String.self), args: try JSONValue.parse(try row.decode("args", as: String.self)),
            riskTier: RiskTier(rawValue: try row.decode("risk_tier", as: Int.self)) ?? .highRiskWrite,
            customerID: try row.decode("customer_id", as: String?.self))
    }

    static func encode<T: Encodable>(_ value: T) throws -> String {
        try JSONValueEncoder().encode(value).serializedString()
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONValueDecoder().decode(type, from: JSONValue.parse(text))
    }
}
