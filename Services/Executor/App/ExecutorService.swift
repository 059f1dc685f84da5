import CustomerKeys
import DomainPack
import EventBus
public import Events
import Foundation
import JSON
import Logging
import ReadModels
public import Postgres
import Projections
import HTTPClient
import Knowledge
import MCPBinding
import Metrics
import Tracing
import ServiceHost
public import ServiceRuntime
public import ToolBindings
import ToolRuntime

/// Runs approved steps exactly once (DESIGN.md §3, §4 step 4). The step id is recorded under a
/// unique key in the same transaction as the tool's effect and the result event; a redelivered
/// or re-proposed step gets the recorded result event back, byte for byte, instead of a rerun.
public struct ExecutorReactor: Sendable {
    public static let interestedIn: Set<String> = [StepApproved.eventType, DryRunRequested.eventType, MessageReceived.eventType, CustomerErased.eventType]

    let pack: DomainPack
    let tools: [String: any NativeTool]
    /// Read tools that run outside the step's transaction (`search_kb`).
    let asyncTools: [String: any AsyncReadTool]
    let pool: PostgresPool
    let producer: String
    let logger: Logger
    let publish: @Sendable (EventEnvelope) async throws -> Void
    /// Calls `http`-bound tools; nil when no tool of the pack is bound to HTTP.
    let http: HTTPToolCaller?
    /// Per-tool rate limits and read caches of `http`-bound tools (`ToolOperations`).
    let rateLimits = RateLimits()
    let readCache = ReadCache()
    /// Sessions with the pack's MCP servers.
    let mcp = MCPSessions()
    /// Chaos runs only: native tool calls that fail or stall (`SWITCHBOARD_FAULTS`).
    let faults: FaultInjection
    /// Shadow runs only: steps answered from recorded results, no tool runs (`SWITCHBOARD_TOOL_REPLAY`).
    let replay: ToolReplay?
    /// Personal data the pack seals for its tools, unsealed here only.
    let sealedValues: SealedValues

    public init(
        pack: DomainPack, tools: [any NativeTool], asyncTools: [any AsyncReadTool] = [], pool: PostgresPool, producer: String, logger: Logger,
        http: HTTPToolCaller? = nil, faults: FaultInjection = FaultInjection(), replay: ToolReplay? = nil, publish: @escaping @Sendable (EventEnvelope) async throws -> Void
    ) {
        self.faults = faults
        self.replay = replay
        self.pack = pack
        self.sealedValues = SealedValues(pack: pack, pool: pool, vault: CustomerKeyVault(pool: pool))
        self.tools = Dictionary(uniqueKeysWithValues: tools.map { ($0.name, $0) })
        self.asyncTools = Dictionary(uniqueKeysWithValues: asyncTools.map { ($0.name, $0) })
        self.pool = pool
        self.producer = producer
        self.logger = logger
        self.http = http
        self.publish = publish
    }

    public func handle(_ event: EventEnvelope) async throws {
        switch event.type {
        case MessageReceived.eventType: return try await sealedValues.record(event)
        case CustomerErased.eventType: return try await sealedValues.forget(event)
        default: break
        }
        if event.type == DryRunRequested.eventType {
            var request = try event.decode(DryRunRequested.self)
            if replay != nil { return try await publish(try replayedDryRun(event, request)) }
            let unsealed: SealedValues.Unsealed
            do {
                (request.args, unsealed) = try await sealedValues.unseal(request.args, tool: request.tool, tenant: event.tenantID, customer: request.customerID)
            } catch let failure as ToolFailure {
                return try await publish(try refused(event, planID: request.planID, stepID: request.stepID, tool: request.tool, failure, label: "dryrun"))
            }
            return try await publish(try await dryRun(event, request).resealed(unsealed))
        }
        let approved = try event.decode(StepApproved.self)
        if let recorded = try await ExecutorStore.recordedResult(stepID: approved.stepID, pool: pool) {
            logger.info("step already executed, returning recorded result", metadata: ["step.id": "\(approved.stepID)"])
            try await publish(recorded)
            return
        }
        try await publish(try event.reaction(ToolCallStarted(planID: approved.planID, stepID: approved.stepID, tool: approved.tool), producer: producer))
        if let replay { return try await publish(try await replayed(event, approved, replay)) }
        // Sealed values the pack lets this tool have: unsealed for the call only; what goes back
        // to the log (and the step's record) carries their references again.
        var step = approved
        let unsealed: SealedValues.Unsealed
        do {
            (step.args, unsealed) = try await sealedValues.unseal(approved.args, tool: approved.tool, tenant: event.tenantID, customer: approved.customerID)
        } catch let failure as ToolFailure {
            return try await publish(try refused(event, planID: approved.planID, stepID: approved.stepID, tool: approved.tool, failure, label: "result"))
        }
        try await execute(event, step, unsealed)
    }

    /// A step that fails before any call (a dry run that finds it impossible, sealed values that
    /// cannot be unsealed): failed, not to be retried.
    func refused(_ event: EventEnvelope, planID: UUID, stepID: UUID, tool: String, _ failure: ToolFailure, label: String) throws -> EventEnvelope {
        try event.reaction(ToolFailed(
            planID: planID, stepID: stepID, tool: tool,
            error: ToolError(code: failure.code, message: failure.message, retriable: false), durationMs: 0), producer: producer, label: label)
    }

    /// Publishes a step's result and counts it: `switchboard_tool_calls_total{tool,outcome,code}`
    /// and the histogram `switchboard_tool_call_seconds{tool,outcome}` (deploy/README.md, Monitoring).
    func publishResult(_ result: EventEnvelope) async throws {
        try await publish(result)
        let (tool, outcome, code, durationMs): (String, String, String, Int)
        if let success = try? result.decode(ToolSucceeded.self) {
            (tool, outcome, code, durationMs) = (success.tool, "succeeded", "", success.durationMs)
        } else if let failure = try? result.decode(ToolFailed.self) {
            (tool, outcome, code, durationMs) = (failure.tool, "failed", failure.error.code, failure.durationMs)
        } else {
            return
        }
        Counter(label: "switchboard_tool_calls_total", dimensions: [("tool", tool), ("outcome", outcome), ("code", code)]).increment()
        Timer(label: "switchboard_tool_call_seconds", dimensions: [("tool", tool), ("outcome", outcome)]).recordMilliseconds(durationMs)
    }

    /// Runs a step whose arguments are as the tool needs them (unsealed), and publishes its result.
    /// In a span (`tool <name>`); an HTTP or MCP call to the tool's upstream is its child.
    func execute(_ event: EventEnvelope, _ step: StepApproved, _ unsealed: SealedValues.Unsealed) async throws {
        try await withSpan("tool \(step.tool)", ofKind: .internal) { span in
            span.attributes["switchboard.tool"] = step.tool
            span.attributes["switchboard.step.id"] = step.stepID.uuidString.lowercased()
            span.attributes["switchboard.tool.binding"] = pack.tools[step.tool]?.binding ?? "native"
            try await executeUntraced(event, step, unsealed)
        }
    }

    func executeUntraced(_ event: EventEnvelope, _ step: StepApproved, _ unsealed: SealedValues.Unsealed) async throws {
        let tool = tools[step.tool]
        let contract = pack.tools[step.tool]
        if let asyncTool = asyncTools[step.tool] {
            let tenant = event.tenantID
            let result = try await callRemote(event, step, unsealed) {
                do {
                    return ToolCallOutcome(result: .success(try await asyncTool.run(args: step.args, tenantID: tenant)), attempts: 1)
                } catch let failure as ToolFailure {
                    return ToolCallOutcome(result: .failure(failure.retriable ? .transport(failure.message) : .invalidCall(failure.message)), attempts: 1)
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    return ToolCallOutcome(result: .failure(.transport("\(error)")), attempts: 1)
                }
            }
            try await publishResult(result)
            return
        }
        if let contract, contract.binding == "mcp", let server = contract.mcpServer {
            let result = try await callRemote(event, step, unsealed) { try await self.callMCP(step, contract: contract, server: server) }
            try await publishResult(result)
            logger.info("step executed", metadata: ["step.id": "\(step.stepID)", "tool": "\(step.tool)", "event.type": "\(result.type)"])
            return
        }
        if let contract, contract.binding == "http", let binding = contract.operations.http {
            let result = try await callRemote(event, step, unsealed) { try await self.callThroughLimits(event, step, contract: contract, binding: binding) }
            try await publishResult(result)
            logger.info("step executed", metadata: ["step.id": "\(step.stepID)", "tool": "\(step.tool)", "event.type": "\(result.type)"])
            return
        }
        let producer = self.producer
        let result: EventEnvelope = try await pool.transaction { connection in
            let claimed = try connection.query("""
                INSERT INTO executor.tool_executions (step_id, plan_id, conversation_id, tenant_id, tool, args, status)
                VALUES (\(step.stepID), \(step.planID), \(event.conversationID), \(event.tenantID), \(step.tool), \(String(decoding: unsealed.sealedArgs.serialized(), as: UTF8.self))::jsonb, 'running')
                ON CONFLICT (step_id) DO NOTHING
                """)
            if claimed.affectedRows == 0 {
                // Another delivery claimed it first; wait for its commit and return its result.
                let rows = try connection.query("SELECT result_event FROM executor.tool_executions WHERE step_id = \(step.stepID) FOR UPDATE")
                if let row = rows.first(where: { _ in true }), let bytes = try row.decode("result_event", as: String?.self) {
                    return try EventCodec.decode(Array(bytes.utf8))
                }
            }
            let started = ContinuousClock.now
            var outcome: Result<JSONValue, ToolFailure>
            let remainingMs = step.deadlineMillis.map { Int($0 - EventEnvelope.nowMillis()) }
            if let remainingMs, remainingMs <= 0 {
                outcome = .failure(ToolFailure(code: "timeout", message: "the turn's wall time was spent before the call", retriable: false))
            } else if let tool, let contract {
                // The contract's timeout (or what is left of the turn's) bounds the tool's
                // statements only; each pair is one round trip (an integer, never client input).
                let timeoutMs = min(contract.timeoutMs, remainingMs ?? Int.max)
                try connection.execute(simple: "SAVEPOINT tool_call; SET LOCAL statement_timeout = \(max(1, timeoutMs))")
                do {
                    try Self.injectFaults(faults, step: step, conversationID: event.conversationID, connection: connection)
                    outcome = .success(try tool.run(args: step.args, tenantID: event.tenantID, customerID: step.customerID, in: connection))
                    try connection.execute(simple: "RELEASE SAVEPOINT tool_call; SET LOCAL statement_timeout = 0")
                } catch let failure as ToolFailure {
                    try connection.execute(simple: "ROLLBACK TO SAVEPOINT tool_call; SET LOCAL statement_timeout = 0")
                    outcome = .failure(failure)
                } catch let error as PostgresError where error.sqlState == "57014" {
                    try connection.execute(simple: "ROLLBACK TO SAVEPOINT tool_call; SET LOCAL statement_timeout = 0")
                    outcome = .failure(ToolFailure(code: "timeout", message: "tool exceeded \(timeoutMs) ms", retriable: true))
                }
            } else {
                outcome = .failure(ToolFailure(code: "not_implemented", message: "no native implementation for '\(step.tool)'", retriable: false))
            }
            let elapsed = ContinuousClock.now - started
            let durationMs = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            var resultEvent: EventEnvelope
            let status: String
            switch outcome {
            case .success(let value):
                status = "succeeded"
                resultEvent = try event.reaction(ToolSucceeded(planID: step.planID, stepID: step.stepID, tool: step.tool, result: value, durationMs: durationMs), producer: producer, label: "result")
            case .failure(let failure):
                status = "failed"
                resultEvent = try event.reaction(ToolFailed(planID: step.planID, stepID: step.stepID, tool: step.tool, error: ToolError(code: failure.code, message: failure.message, retriable: failure.retriable), durationMs: durationMs), producer: producer, label: "result")
            }
            resultEvent = try resultEvent.resealed(unsealed)
            try connection.query("""
                UPDATE executor.tool_executions
                SET status = \(status), result_event = \(String(decoding: EventCodec.encode(resultEvent), as: UTF8.self)), finished_at = now(), duration_ms = \(durationMs)
                WHERE step_id = \(step.stepID)
                """)
            return resultEvent
        }
        try await publishResult(result)
        logger.info("step executed", metadata: ["step.id": "\(step.stepID)", "tool": "\(step.tool)", "event.type": "\(result.type)"])
    }
}

extension ExecutorReactor {
    /// A chaos run's faults, inside the tool's savepoint: an error as if the system of record
    /// were down, or a stall in the system of record itself, so the tool's own statement
    /// timeout is what fires.
    static func injectFaults(_ faults: FaultInjection, step: StepApproved, conversationID: String, connection: PostgresConnection) throws {
        guard !faults.isEmpty else { return }
        switch faults.scripted(conversation: conversationID, tool: step.tool) {
        case .error?:
            throw ToolFailure(code: "unavailable", message: "injected fault: the system of record is not answering", retriable: true)
        case .timeout?:
            // Longer than any tool's timeout: the statement timeout set for the call ends it.
            try connection.execute(simple: "SELECT pg_sleep(600)")
        case nil:
            break
        }
        if FaultInjection.hits(faults.toolErrorPercent, key: step.stepID, salt: "tool_error") {
            throw ToolFailure(code: "unavailable", message: "injected fault: the system of record is not answering", retriable: true)
        }
        if FaultInjection.hits(faults.toolLatencyPercent, key: step.stepID, salt: "tool_latency") {
            try connection.execute(simple: "SELECT pg_sleep(\(Double(faults.toolLatencyMs) / 1000))")
        }
    }

    /// The turn's deadline on this process's clock (nil: none given).
    static func deadline(_ step: StepApproved) -> ContinuousClock.Instant? {
        step.deadlineMillis.map { .now + .milliseconds($0 - EventEnvelope.nowMillis()) }
    }

    /// What the step would change, without changing it: a native write tool's `preview` in a
    /// read-only transaction, or the request an `http` tool would send (secrets masked). A
    /// preview that finds the effect impossible (no such order, already shipped) answers as the
    /// step's failure, so the turn ends without troubling an approver.
    func dryRun(_ event: EventEnvelope, _ request: DryRunRequested) async throws -> EventEnvelope {
        let outcome: Result<EffectPreview, ToolFailure>
        if let contract = pack.tools[request.tool], contract.binding == "http", let binding = contract.operations.http {
            do {
                let http = try HTTPToolCaller.preview(binding, arguments: request.args, idempotencyKey: request.stepID.lowercaseString, timeout: .milliseconds(contract.timeoutMs))
                let body: JSONValue = http.body.flatMap { try? JSONValue.parse($0) } ?? http.body.map { .string(String(decoding: $0, as: UTF8.self)) } ?? .null
                outcome = .success(EffectPreview(
                    summary: "\(http.method) \(http.url)",
                    changes: [.init(target: "\(http.method) \(http.url)", field: "body", before: nil, after: body)]))
            } catch {
                outcome = .failure(ToolFailure(code: error.code, message: error.description, retriable: false))
            }
        } else if let contract = pack.tools[request.tool], contract.binding == "mcp", let server = contract.mcpServer {
            outcome = .success(EffectPreview(
                summary: "Call \(request.tool) on MCP server \(server.name)",
                changes: [.init(target: "mcp \(server.name)/\(request.tool)", field: "arguments", before: nil, after: request.args)]))
        } else if let tool = tools[request.tool] as? any WriteTool {
            let tenant = event.tenantID
            outcome = try await pool.transaction { connection in
                try connection.execute(simple: "SET TRANSACTION READ ONLY")
                do {
                    return .success(try tool.preview(args: request.args, tenantID: tenant, customerID: request.customerID, in: connection))
                } catch let failure as ToolFailure {
                    return .failure(failure)
                }
            }
        } else {
            outcome = .failure(ToolFailure(code: "no_dry_run", message: "'\(request.tool)' cannot show what it would change", retriable: false))
        }
        switch outcome {
        case .success(let preview):
            return try event.reaction(DryRunCompleted(
                planID: request.planID, stepID: request.stepID, tool: request.tool, args: request.args, riskTier: request.riskTier,
                reason: request.reason, preview: preview), producer: producer)
        case .failure(let failure):
            logger.info("dry run found the step cannot run", metadata: ["step.id": "\(request.stepID)", "tool": "\(request.tool)", "code": "\(failure.code)"])
            return try refused(event, planID: request.planID, stepID: request.stepID, tool: request.tool, failure, label: "dryrun")
        }
    }

    /// An `http`-bound step. The step is claimed (recorded as running) before the call, the call
    /// carries the step id as `Idempotency-Key` on every attempt, and the result is recorded once:
    /// a delivery that finds a recorded result returns it without calling (see `handle`); one that
    /// finds the step running without a result (the executor died mid-call) calls again with the
    /// same key, which the upstream answers without applying the effect twice.
    /// The read cache first (read tools with a TTL), then the tool's rate limit (waiting for a
    /// token only as long as the call's timeout), then the call.
    func callThroughLimits(_ event: EventEnvelope, _ step: StepApproved, contract: ToolContract, binding: HTTPBinding) async throws -> ToolCallOutcome {
        let cacheKey = ReadCache.Key(tenant: event.tenantID, tool: step.tool, arguments: step.args)
        let ttl = contract.riskTier == .read ? contract.operations.cacheTTL : nil
        if ttl != nil, let cached = readCache.value(for: cacheKey, at: .now) {
            return ToolCallOutcome(result: .success(cached), attempts: 0)
        }
        if let limit = contract.operations.rateLimit,
           let wait = rateLimits.take(step.tool, ratePerSecond: limit.perSecond, burst: limit.burst, at: .now) {
            guard wait <= .milliseconds(contract.timeoutMs) else {
                return ToolCallOutcome(result: .failure(.rateLimited(wait: wait)), attempts: 0)
            }
            try await Task.sleep(for: wait)
        }
        guard let http else {
            return ToolCallOutcome(result: .failure(.invalidCall("the executor has no HTTP client")), attempts: 0)
        }
        let outcome = try await http.call(
            tool: step.tool, binding: binding, arguments: step.args, idempotencyKey: step.stepID.lowercaseString,
            timeout: .milliseconds(contract.timeoutMs), retry: contract.operations.retry, deadline: Self.deadline(step))
        if let ttl, case .success(let value) = outcome.result { readCache.store(value, for: cacheKey, ttl: ttl, at: .now) }
        return outcome
    }

    /// An `mcp`-bound step: the server's session (started on first use, restarted after it
    /// died), the step id in `_meta.idempotencyKey`, bounded by the tool's timeout and the
    /// turn's deadline.
    func callMCP(_ step: StepApproved, contract: ToolContract, server: MCPServerSpec) async throws -> ToolCallOutcome {
        var timeout = Duration.milliseconds(contract.timeoutMs)
        if let deadline = Self.deadline(step) {
            let remaining = deadline - .now
            guard remaining > .milliseconds(10) else { return ToolCallOutcome(result: .failure(.timeout), attempts: 0) }
            timeout = min(timeout, remaining)
        }
        let session: MCPSession
        do {
            session = try await mcp.session(for: server, logger: logger)
        } catch {
            return ToolCallOutcome(result: .failure(.transport("\(error)")), attempts: 0)
        }
        let result = try await session.call(tool: step.tool, arguments: step.args, idempotencyKey: step.stepID.lowercaseString, timeout: timeout)
        if case .failure(.transport) = result { await mcp.discard(server) }
        return ToolCallOutcome(result: result, attempts: 1)
    }

    /// A step run outside Postgres (HTTP, MCP). The step is claimed (recorded as running)
    /// before the call, and the result is recorded once: a delivery that finds a recorded result
    /// returns it without calling (see `handle`); one that finds the step running without a
    /// result (the executor died mid-call) calls again with the same idempotency key.
    func callRemote(_ event: EventEnvelope, _ step: StepApproved, _ unsealed: SealedValues.Unsealed, _ perform: () async throws -> ToolCallOutcome) async throws -> EventEnvelope {
        try await pool.query("""
            INSERT INTO executor.tool_executions (step_id, plan_id, conversation_id, tenant_id, tool, args, status)
            VALUES (\(step.stepID), \(step.planID), \(event.conversationID), \(event.tenantID), \(step.tool), \(String(decoding: unsealed.sealedArgs.serialized(), as: UTF8.self))::jsonb, 'running')
            ON CONFLICT (step_id) DO NOTHING
            """)
        let started = ContinuousClock.now
        let outcome = try await perform()
        let elapsed = ContinuousClock.now - started
        let durationMs = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        var resultEvent: EventEnvelope
        let status: String
        switch outcome.result {
        case .success(let value):
            status = "succeeded"
            resultEvent = try event.reaction(ToolSucceeded(planID: step.planID, stepID: step.stepID, tool: step.tool, result: value, durationMs: durationMs), producer: producer, label: "result")
        case .failure(let failure):
            status = "failed"
            let error = ToolError(code: failure.code, message: failure.description, retriable: failure.disposition == .retry)
            resultEvent = try event.reaction(ToolFailed(planID: step.planID, stepID: step.stepID, tool: step.tool, error: error, durationMs: durationMs), producer: producer, label: "result")
            logger.info("remote tool failed", metadata: ["step.id": "\(step.stepID)", "tool": "\(step.tool)", "attempts": "\(outcome.attempts)", "error": "\(unsealed.reseal("\(failure)"))"])
        }
        resultEvent = try resultEvent.resealed(unsealed)
        // First recorded result wins: a concurrent delivery that recorded first is returned.
        let recorded = try await pool.query("""
            WITH updated AS (
                UPDATE executor.tool_executions
                SET status = \(status), result_event = \(String(decoding: EventCodec.encode(resultEvent), as: UTF8.self)), finished_at = now(), duration_ms = \(durationMs)
                WHERE step_id = \(step.stepID) AND result_event IS NULL
                RETURNING result_event
            )
            SELECT result_event FROM updated
            UNION ALL
            SELECT result_event FROM executor.tool_executions WHERE step_id = \(step.stepID) AND NOT EXISTS (SELECT 1 FROM updated)
            """)
        guard let text = try recorded.first?.decode("result_event", as: String?.self) else { return resultEvent }
        return try EventCodec.decode(Array(text.utf8))
    }
}

enum ExecutorStore {
    static let migrations: [Migration] = [
        Migration(version: 1, name: "tool_executions", sql: """
            CREATE TABLE tool_executions (
                step_id uuid PRIMARY KEY,
                plan_id uuid NOT NULL,
                conversation_id text NOT NULL,
                tenant_id text NOT NULL,
                tool text NOT NULL,
                args jsonb NOT NULL,
                status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
                -- The encoded result event, re-sent unchanged when the step is delivered again.
                result_event text,
                duration_ms integer,
                created_at timestamptz NOT NULL DEFAULT now(),
                finished_at timestamptz
            );
            CREATE INDEX tool_executions_conversation ON tool_executions (conversation_id);
            """),
        SealedValues.migration,
    ]

    static func recordedResult(stepID: UUID, pool: PostgresPool) async throws -> EventEnvelope? {
        let rows = try await pool.query("SELECT result_event FROM executor.tool_executions WHERE step_id = \(stepID) AND result_event IS NOT NULL")
        guard let row = rows.first(where: { _ in true }) else { return nil }
        return try EventCodec.decode(Array(try row.decode("result_event", as: String.self).utf8))
    }
}

public enum ExecutorService {
    /// Every tool the executor implements, whatever pack is loaded.
    public static let nativeTools: [any NativeTool] = [
        GetOrderStatus(), GetOrder(), GetInvoice(), CreateTicket(), CreateRefund(), CancelOrder(), UpdateShippingAddress(), SendEmail(),
        CheckNetworkStatus(), GetBalance(), GetPUK(), ActivateSIM(), Recharge(),
    ]

    /// Native tools that are not a transaction's work: they read a read model's async queries.
    public static let asyncToolNames: Set<String> = ["search_kb"]

    /// The async read tools the pack declares, over the process's pool.
    public static func asyncTools(for pack: DomainPack, pool: PostgresPool, logger: Logger) throws -> [any AsyncReadTool] {
        guard pack.tools["search_kb"] != nil else { return [] }
        return [SearchKnowledgeBase(index: try KnowledgeIndex(pool: pool, schema: "knowledge", logger: logger))]
    }

    /// The native tools the pack declares: others are not offered (a step naming one fails as
    /// `not_implemented`), and a pack tool bound `native` without an implementation is logged.
    public static func nativeTools(for pack: DomainPack, logger: Logger) -> [any NativeTool] {
        let offered = nativeTools.filter { pack.tools[$0.name] != nil }
        let implemented = Set(offered.map(\.name)).union(asyncToolNames)
        for tool in pack.tools.values.sorted(by: { $0.name < $1.name }) where tool.binding == "native" && !implemented.contains(tool.name) {
            logger.warning("pack tool has no native implementation; its steps will fail", metadata: ["tool": "\(tool.name)", "pack": "\(pack.name)"])
        }
        return offered
    }

    public static func run(config: ServiceConfig, logger: Logger) async throws {
        let pack = try DomainPack.load(path: config.domainPackPath)
        let tools = nativeTools(for: pack, logger: logger)
        let replay = try (config.secrets["SWITCHBOARD_TOOL_REPLAY"]).flatMap { $0.isEmpty ? nil : try ToolReplay.load(path: $0) }
        // Only the systems of record the pack's tools act on.
        let records = Array(Set(tools.map(\.systemOfRecord))).sorted { $0.name < $1.name }
        let host = try await ServiceHost.start(config: config, logger: logger, schemas: records.map { ($0.name, $0.migrations) } + [
            ("executor", ExecutorStore.migrations),
            // The per-customer keys (the gateway's too; migrations are idempotent), to unseal with.
            (CustomerKeyVault.schema, CustomerKeyVault.migrations),
            (ReadModels.executions.liveSchema, ReadModels.executions.migrations),
        ])
        if config.demoData {
            for record in records { try await record.seedDemoData(host.pool) }
            logger.info("demo data seeded", metadata: ["schemas": "\(records.map(\.name).joined(separator: ","))"])
        }
        let publisher = host.publisher
        // HTTP-bound tools: one client, each tool's breaker built from its contract.
        let httpTools = pack.tools.values.filter { $0.binding == "http" }
        let httpClient = httpTools.isEmpty ? nil : HTTPClient(maxConcurrentRequests: 16, userAgent: "switchboard-executor", logger: logger)
        let http = httpClient.map { client in
            HTTPToolCaller(client: client, secrets: config.secrets, breakers: CircuitBreaker(
                config: ToolOperations().circuitBreaker, configFor: { [pack] name in pack.tools[name]?.operations.circuitBreaker ?? ToolOperations().circuitBreaker },
                onTransition: { transition in
                    logger.notice("tool circuit breaker", metadata: ["tool": "\(transition.key)", "from": "\(transition.from.rawValue)", "to": "\(transition.to.rawValue)"])
                    BreakerMetrics.record(kind: "tool", key: transition.key, to: transition.to.rawValue)
                }))
        }
        defer { if let httpClient { Task { await httpClient.shutdown() } } }
        if let replay {
            logger.warning("tool replay mode is on: no tool runs, every step is answered from recorded results (shadow run)", metadata: ["replay.file": "\(replay.path)", "replay.calls": "\(replay.calls.count)"])
        }
        let reactor = ExecutorReactor(
            pack: pack, tools: tools, asyncTools: try asyncTools(for: pack, pool: host.pool, logger: logger), pool: host.pool,
            producer: config.producerName, logger: logger, http: http, faults: config.faults, replay: replay,
            publish: { try await publisher.publish($0) })
        if !config.faults.isEmpty { logger.warning("fault injection is on (chaos run)", metadata: ["faults": "\(config.faults)"]) }
        try await host.run(
            consumers: [
                host.logConsumer(
                    reactions: [Reaction(name: "execute", interestedIn: ExecutorReactor.interestedIn, handle: reactor.handle)],
                    projections: host.feeds(ReadModels.executions.projections())
                ),
            ]
        )
    }
}
