import DatabaseTestSupport
import Events
import Foundation
@testable import HILQueueApp
import Postgres
import ReadModelTestSupport
import Synchronization
import Testing

/// The handover desk against real Postgres: queueing, claims by skill, SLA and age, every
/// agent action checked against the state machine and the holder, transfers, releases, the
/// sweeper, and concurrent claims through two desks with pools of their own (two replicas).
@Suite(.timeLimit(.minutes(2)))
struct HandoverDeskTests {
    struct Fixture {
        let desk: HandoverDesk
        let pool: PostgresPool
        let schema: String
        let appended: Appended
        let tenant = "default"

        func agent(_ id: String, skills: [String], capacity: Int = 2, status: HandoverDesk.AgentStatus = .online) async throws {
            try await desk.saveAgent(tenant: tenant, id: id, name: id.capitalized, skills: skills, capacity: capacity, status: status)
        }

        /// A conversation handed over (its `HandoverRequested`, enqueued).
        @discardableResult
        func handover(_ conversation: String, skills: [String], reason: HandoverReason = .customerRequest, at time: String) async throws -> EventEnvelope {
            var script = ConversationScript(conversation)
            try script.customerSays("I want a human", at: time)
            let request = try script.handsOver(reason: reason, skills: skills, at: time)
            try await desk.enqueue(request)
            return request
        }

        func types() -> [String] { appended.all.map(\.type) }
        func outbox() async throws -> Int {
            try await pool.query("SELECT count(*)::int AS n FROM \(identifier: schema).outbox").first(where: { _ in true })!.decode("n")
        }
        func phase(_ conversation: String) async throws -> String? {
            try await pool.query("SELECT phase FROM \(identifier: schema).handovers WHERE conversation_id = \(conversation)").first(where: { _ in true })?.decode("phase")
        }
    }

    static func withDesk(
        settings: HandoverDesk.Settings = .init(), publish: (@Sendable ([EventEnvelope]) async throws -> Void)? = nil,
        _ body: (Fixture) async throws -> Void
    ) async throws {
        try await TestDB.withPool(size: 4) { pool in
            try await TestDB.withSchema(pool, prefix: "desk", migrations: HandoverDesk.migrations) { schema in
                let appended = Appended()
                let desk = HandoverDesk(pool: pool, producer: "hilqueue@test", settings: settings, schema: schema, publish: publish ?? { appended.append($0) })
                try await body(Fixture(desk: desk, pool: pool, schema: schema, appended: appended))
            }
        }
    }

    @Test func claimsGoByStatusSkillCapacityThenOldestFirst() async throws {
        try await Self.withDesk { f in
            try await f.agent("ana", skills: ["billing"], capacity: 2)
            try await f.agent("bo", skills: ["tech"], capacity: 1)
            try await f.agent("cy", skills: ["billing"], status: .offline)
            try await f.handover("c-billing-new", skills: ["billing"], at: "2026-03-10T09:05:00.000Z")
            try await f.handover("c-billing-old", skills: ["billing"], at: "2026-03-10T09:01:00.000Z")
            try await f.handover("c-tech", skills: ["tech"], at: "2026-03-10T09:03:00.000Z")
            #expect(f.types() == ["HandoverQueued", "HandoverQueued", "HandoverQueued"])

            #expect(try await f.desk.claim(tenant: f.tenant, agent: "cy") == .notOnline(.offline))
            #expect(try await f.desk.claim(tenant: f.tenant, agent: "nobody") == .unknownAgent)
            guard case .claimed(let first, _, "billing") = try await f.desk.claim(tenant: f.tenant, agent: "ana") else { Issue.record("ana claimed nothing"); return }
            #expect(first == "c-billing-old", "the oldest request first")
            guard case .claimed("c-tech", _, "tech") = try await f.desk.claim(tenant: f.tenant, agent: "bo") else { Issue.record("bo did not get c-tech"); return }
            #expect(try await f.desk.claim(tenant: f.tenant, agent: "bo") == .atCapacity(1))
            guard case .claimed("c-billing-new", _, _) = try await f.desk.claim(tenant: f.tenant, agent: "ana") else { Issue.record("ana's second claim"); return }
            #expect(try await f.desk.claim(tenant: f.tenant, agent: "ana") == .atCapacity(2))
            try await f.agent("dee", skills: ["billing", "tech"])
            #expect(try await f.desk.claim(tenant: f.tenant, agent: "dee") == .nothingWaiting)

            let claims = try f.appended.all.filter { $0.type == "HandoverClaimed" }.map { try $0.decode(HandoverClaimed.self) }
            #expect(claims.map(\.agentID) == ["ana", "bo", "ana"])
            #expect(try await f.outbox() == 0, "appended events leave the outbox")
            #expect(try await f.desk.agents(tenant: f.tenant).map { "\($0.agentID):\($0.load)" } == ["ana:2", "bo:1", "cy:0", "dee:0"])
        }
    }

    @Test func actionsFollowTheStateMachineAndOnlyTheHolderActs() async throws {
        try await Self.withDesk { f in
            try await f.agent("ana", skills: ["billing"])
            try await f.agent("bo", skills: ["billing"])
            let request = try await f.handover("c-1", skills: ["billing"], at: "2026-03-10T09:00:00.000Z")
            #expect(try await f.desk.act(tenant: f.tenant, conversation: "c-1", agent: "ana", .reply("hi")) == .illegal(phase: .pendingHuman, transition: .agentReplied))
            _ = try await f.desk.claim(tenant: f.tenant, agent: "ana")
            #expect(try await f.desk.act(tenant: f.tenant, conversation: "c-1", agent: "bo", .reply("me too")) == .notHolder(holder: "ana"))
            #expect(try await f.desk.act(tenant: f.tenant, conversation: "nope", agent: "ana", .reply("?")) == .unknownConversation)
            #expect(try await f.desk.act(tenant: "other", conversation: "c-1", agent: "ana", .reply("?")) == .unknownConversation, "another tenant's")

            guard case .done(let reply) = try await f.desk.act(tenant: f.tenant, conversation: "c-1", agent: "ana", .reply("Hi, Ana here.")) else { Issue.record("reply"); return }
            #expect(try reply.decode(AgentReplied.self).text == "Hi, Ana here." && reply.correlationID == request.correlationID, "the handover's story")
            guard case .done = try await f.desk.act(tenant: f.tenant, conversation: "c-1", agent: "ana", .note("VIP")) else { Issue.record("note"); return }
            guard case .done = try await f.desk.act(tenant: f.tenant, conversation: "c-1", agent: "ana", .resolve(note: "done")) else { Issue.record("resolve"); return }
            #expect(try await f.phase("c-1") == "resolved")
            let before = f.appended.all.count
            for action in [HandoverDesk.Action.reply("again"), .note("x"), .resolve(note: ""), .handBack(note: ""), .transferToQueue("tech", note: "")] {
                guard case .illegal(.resolved, _) = try await f.desk.act(tenant: f.tenant, conversation: "c-1", agent: "ana", action) else {
                    Issue.record("\(action) after resolving was not refused"); continue
                }
            }
            #expect(f.appended.all.count == before, "a refused action appends nothing")
            #expect(try await f.phase("c-1") == "resolved")
            #expect(f.types().suffix(4) == ["HandoverClaimed", "AgentReplied", "InternalNoteAdded", "ConversationResolved"])

            // A new handover of the same conversation queues it again; a redelivered request does not.
            let second = try await f.handover("c-1", skills: ["billing"], at: "2026-03-10T10:00:00.000Z")
            #expect(try await f.phase("c-1") == "pending_human")
            try await f.desk.enqueue(second)
            let queued = f.appended.all.filter { $0.type == "HandoverQueued" }
            #expect(queued.count == 3 && queued[1].id == queued[2].id, "a redelivery appends the same event")
        }
    }

    @Test func transfersReleasesAndHandingBack() async throws {
        try await Self.withDesk { f in
            try await f.agent("ana", skills: ["billing"])
            try await f.agent("bo", skills: ["billing", "tech"], capacity: 1)
            try await f.agent("cy", skills: ["billing"], status: .away)
            try await f.handover("c-1", skills: ["billing"], at: "2026-03-10T09:00:00.000Z")
            _ = try await f.desk.claim(tenant: f.tenant, agent: "ana")
            #expect(try await f.desk.act(tenant: f.tenant, conversation: "c-1", agent: "ana", .transferToAgent("cy", note: "")) == .targetUnavailable("cy"))
            #expect(try await f.desk.act(tenant: f.tenant, conversation: "c-1", agent: "ana", .transferToAgent("ana", note: "")) == .targetUnavailable("ana"))
            guard case .done = try await f.desk.act(tenant: f.tenant, conversation: "c-1", agent: "ana", .transferToAgent("bo", note: "tech question")) else { Issue.record("transfer"); return }
            #expect(try await f.desk.agents(tenant: f.tenant).map(\.load) == [0, 1, 0])
            guard case .done = try await f.desk.act(tenant: f.tenant, conversation: "c-1", agent: "bo", .transferToQueue("tech", note: "needs a router expert")) else { Issue.record("to queue"); return }
            #expect(try await f.phase("c-1") == "pending_human")
            #expect(try await f.desk.claim(tenant: f.tenant, agent: "ana") == .nothingWaiting, "ana has no tech skill")
            guard case .claimed("c-1", _, "tech") = try await f.desk.claim(tenant: f.tenant, agent: "bo") else { Issue.record("bo's claim"); return }
            #expect(try await f.desk.setStatus(tenant: f.tenant, agent: "bo", .offline) == .done)
            #expect(try await f.phase("c-1") == "pending_human", "going offline gives the conversation back")
            let released = try #require(f.appended.all.last).decode(HandoverReleased.self)
            #expect(released.agentID == "bo" && released.cause == .agentOffline)
            #expect(try await f.desk.setStatus(tenant: f.tenant, agent: "ghost", .online) == .unknownAgent)

            _ = try await f.desk.setStatus(tenant: f.tenant, agent: "bo", .online)
            _ = try await f.desk.claim(tenant: f.tenant, agent: "bo")
            guard case .done(let back) = try await f.desk.act(tenant: f.tenant, conversation: "c-1", agent: "bo", .handBack(note: "router reset; AI can take delivery questions")) else {
                Issue.record("hand back"); return
            }
            #expect(back.type == "HandedBackToAI")
            #expect(try await f.phase("c-1") == "back_to_ai")
            let transfers = try f.appended.all.filter { $0.type == "HandoverTransferred" }.map { try $0.decode(HandoverTransferred.self) }
            #expect(transfers.map { "\($0.fromAgent)>\($0.toAgent ?? "queue:" + ($0.toQueue ?? "?"))" } == ["ana>bo", "bo>queue:tech"])
        }
    }

    @Test func theSweeperBreachesSLAsSilencesAgentsAndAppendsStrandedEvents() async throws {
        try await Self.withDesk(settings: .init(slaSeconds: 60, heartbeatTimeoutSeconds: 30, strandedAfterSeconds: 5)) { f in
            try await f.agent("ana", skills: ["billing"])
            try await f.agent("bo", skills: ["billing"])
            try await f.handover("c-old", skills: ["billing"], at: "2026-03-10T09:00:00.000Z")
            try await f.handover("c-new-waited", skills: ["billing"], at: "2026-03-10T09:30:00.000Z")
            try await f.handover("c-held", skills: ["billing"], at: "2026-03-10T08:00:00.000Z")
            _ = try await f.desk.claim(tenant: f.tenant, agent: "ana")  // takes c-held, the oldest
            // c-new-waited has waited past its SLA; ana's inbox stopped sending heartbeats.
            try await f.pool.query("UPDATE \(identifier: f.schema).handovers SET queued_at = now() - interval '2 minutes' WHERE conversation_id = 'c-new-waited'")
            try await f.pool.query("UPDATE \(identifier: f.schema).agents SET last_heartbeat_at = now() - interval '1 minute' WHERE agent_id = 'ana'")
            try await f.desk.sweep()
            let breach = try #require(f.appended.all.first { $0.type == "HandoverSLABreached" }).decode(HandoverSLABreached.self)
            #expect(breach.slaSeconds == 60 && breach.priority == 0 && breach.waitedSeconds >= 120)
            #expect(try f.appended.all.filter { $0.type == "HandoverReleased" }.map { try $0.decode(HandoverReleased.self).cause } == [.heartbeatMissed])
            #expect(try await f.desk.agent(tenant: f.tenant, id: "ana")?.status == .offline)
            // bo's inbox is open: a heartbeat keeps bo online through the same sweep.
            try await f.pool.query("UPDATE \(identifier: f.schema).agents SET last_heartbeat_at = now() - interval '1 minute' WHERE agent_id = 'bo'")
            #expect(try await f.desk.heartbeat(tenant: f.tenant, agent: "bo") == .done)
            #expect(try await f.desk.heartbeat(tenant: f.tenant, agent: "ghost") == .unknownAgent)
            try await f.desk.sweep()
            #expect(try await f.desk.agent(tenant: f.tenant, id: "bo")?.status == .online)
            guard case .claimed("c-new-waited", _, _) = try await f.desk.claim(tenant: f.tenant, agent: "bo") else { Issue.record("the SLA-critical one was not first"); return }
            try await f.desk.sweep()
            #expect(f.appended.all.filter { $0.type == "HandoverSLABreached" }.count == 1, "a breach is reported once")
        }
        // A replica that dies between its commit and the append: the sweeper appends the event.
        let failing = Appended()
        try await Self.withDesk(publish: { _ in throw CancellationError() }) { f in
            try await f.agent("ana", skills: ["billing"])
            var script = ConversationScript("c-1")
            try script.customerSays("human", at: "2026-03-10T09:00:00.000Z")
            let request = try script.handsOver(reason: .customerRequest, skills: ["billing"], at: "2026-03-10T09:00:01.000Z")
            await #expect(throws: CancellationError.self) { try await f.desk.enqueue(request) }
            await #expect(throws: CancellationError.self) { _ = try await f.desk.claim(tenant: f.tenant, agent: "ana") }
            #expect(try await f.phase("c-1") == "human_active")
            #expect(try await f.outbox() == 1)
            let healthy = HandoverDesk(pool: f.pool, producer: "hilqueue@other", schema: f.schema, publish: { failing.append($0) })
            try await healthy.sweep()
            #expect(failing.all.isEmpty, "not stranded yet")
            try await f.pool.query("UPDATE \(identifier: f.schema).outbox SET created_at = now() - interval '1 minute'")
            try await healthy.sweep()
            #expect(try failing.all.map { try $0.decode(HandoverClaimed.self).agentID } == ["ana"])
            #expect(try await f.outbox() == 0)
        }
    }

    /// 20 claimers (10 agents, twice each) at once through two desks with pools of their own,
    /// against 5 waiting conversations: each is claimed exactly once, no agent over capacity.
    @Test func concurrentClaimsAcrossTwoReplicas() async throws {
        try await Self.withDesk { f in
            let agents = (1...10).map { "agent_\($0)" }
            for agent in agents { try await f.agent(agent, skills: ["general"], capacity: 1) }
            for index in 1...5 { try await f.handover("c-\(index)", skills: [], at: "2026-03-10T09:0\(index):00.000Z") }
            let second = try TestDB.makePool(size: 4)
            defer { Task { await second.close() } }
            let replicas = [f.desk, HandoverDesk(pool: second, producer: "hilqueue@2", schema: f.schema, publish: { f.appended.append($0) })]
            let outcomes = try await withThrowingTaskGroup(of: (String, HandoverDesk.ClaimOutcome).self) { group in
                for (index, agent) in (agents + agents).enumerated() {
                    group.addTask { (agent, try await replicas[index % 2].claim(tenant: f.tenant, agent: agent)) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let claimed = outcomes.compactMap { agent, outcome -> (String, String)? in
                if case .claimed(let conversation, _, _) = outcome { (agent, conversation) } else { nil }
            }
            #expect(claimed.count == 5)
            #expect(Set(claimed.map(\.1)) == Set((1...5).map { "c-\($0)" }), "every conversation once")
            #expect(Set(claimed.map(\.0)).count == 5, "no agent twice (capacity 1)")
            #expect(outcomes.allSatisfy { _, outcome in
                switch outcome { case .claimed, .nothingWaiting, .atCapacity: true; default: false }
            })
            #expect(f.appended.all.filter { $0.type == "HandoverClaimed" }.count == 5)
        }
    }
}
