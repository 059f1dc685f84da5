import DatabaseTestSupport
import Events
import Foundation
import ReadModelTestSupport
@testable import ReadModels
import Testing

/// The query types against rows the real projections wrote into scratch schemas: what the
/// gateway, the CLI's time travel and the planner's budgets read.
@Suite(.timeLimit(.minutes(2)))
struct ReadModelQueriesTests {
    @Test func conversationsAndMessagesAreReadBackWithTheirEventTimesAndTenant() async throws {
        try await ScratchReadModels.with([ReadModels.gateway]) { models in
            var a = ConversationScript("conv-a")
            let question = try a.customerSays("Where is ABC123?", at: "2026-03-10T09:00:00.123Z")
            let reply = try a.replies("It ships tomorrow.", at: "2026-03-10T09:00:01.456Z")
            var other = ConversationScript("conv-other", tenant: "other")
            try other.customerSays("hello", at: "2026-03-10T09:05:00.000Z")
            try await models.apply(a.events + other.events)
            let queries = ConversationQueries(pool: models.pool, schema: models.schema(ReadModels.gateway))

            let conversation = try #require(try await queries.conversation("conv-a", tenant: "default"))
            #expect(conversation == ConversationQueries.Conversation(
                conversationID: "conv-a", tenantID: "default", customerID: "cus-1", status: .open, owner: .ai, phase: .finished, turnCount: 1,
                firstActivityMillis: ConversationScript.millis("2026-03-10T09:00:00.123Z"),
                lastActivityMillis: ConversationScript.millis("2026-03-10T09:00:01.456Z")))
            #expect(try await queries.conversation("conv-other", tenant: "default") == nil, "another tenant's conversation is not found")
            #expect(try await queries.conversation("conv-other", tenant: nil)?.tenantID == "other", "operator tools read any tenant")

            let messages = try await queries.messages(conversation: "conv-a")
            #expect(messages.map(\.role) == ["customer", "assistant"])
            #expect(messages.map(\.kind) == [nil, "answer"])
            #expect(messages.map(\.messageID) == [question.id, try reply.decode(ReplyDelivered.self).replyID])
            #expect(messages.map(\.turnID) == [question.correlationID, question.correlationID])
            #expect(messages.map(\.logOffset) == [0, 1])
            #expect(try await queries.messages(conversation: "conv-a", after: 0).map(\.role) == ["assistant"], "a stream resumes after an offset")
            #expect(messages.map { Timestamp.format(millis: $0.occurredAtMillis) } == ["2026-03-10T09:00:00.123Z", "2026-03-10T09:00:01.456Z"])

            #expect(try await queries.reply(turn: question.correlationID)?.text == "It ships tomorrow.")
            #expect(try await queries.reply(turn: UUID()) == nil)
        }
    }

    /// Erasure blanks every message of the customer's conversations, whichever comes first on
    /// the log: the CustomerErased (keyed by customer, another partition) or the messages (a
    /// rebuild may read the partitions in either order). Other customers keep their texts.
    @Test func anErasedCustomersTextsAreBlankedInEitherOrder() async throws {
        for erasureFirst in [false, true] {
            try await ScratchReadModels.with([ReadModels.gateway]) { models in
                var a = ConversationScript("conv-a", customer: "cus-1")
                try a.customerSays("My email is [EMAIL], where is ABC123?", at: "2026-03-10T09:00:00.000Z")
                try a.replies("It ships tomorrow.", at: "2026-03-10T09:00:01.000Z")
                var b = ConversationScript("conv-b", customer: "cus-2")
                try b.customerSays("Where is DEF456?", at: "2026-03-10T09:00:02.000Z")
                let erasure = try EventEnvelope.start(
                    CustomerErased(customerID: "cus-1"), conversationID: "customer:cus-1", tenantID: "default", producer: "gateway@test",
                    occurredAtMillis: ConversationScript.millis("2026-03-10T10:00:00.000Z"))
                if erasureFirst {
                    try await models.apply([erasure], firstOffset: 0, partition: 1)
                    try await models.apply(a.events + b.events, firstOffset: 0, partition: 0)
                } else {
                    try await models.apply(a.events + b.events, firstOffset: 0, partition: 0)
                    try await models.apply([erasure], firstOffset: 0, partition: 1)
                }
                let queries = ConversationQueries(pool: models.pool, schema: models.schema(ReadModels.gateway))
                #expect(try await queries.messages(conversation: "conv-a").map(\.text) == [ConversationsProjection.erasedText, ConversationsProjection.erasedText], "erasure first: \(erasureFirst)")
                #expect(try await queries.messages(conversation: "conv-b").map(\.text) == ["Where is DEF456?"])
                #expect(try await queries.conversation("conv-a", tenant: "default")?.turnCount == 1, "the conversation itself stays")
            }
        }
    }

    @Test func conversationListFiltersAndPagesNewestFirstWithoutGapsOrRepeats() async throws {
        try await ScratchReadModels.with([ReadModels.gateway]) { models in
            var events: [EventEnvelope] = []
            // Five conversations, one second apart; the two latest share a timestamp, so the
            // id breaks the tie. conv-2 is handed over, conv-4 belongs to another customer.
            for (index, id) in ["conv-1", "conv-2", "conv-3", "conv-4", "conv-5"].enumerated() {
                var script = ConversationScript(id, customer: id == "conv-4" ? "cus-2" : "cus-1")
                try script.customerSays("hi", at: "2026-03-10T09:00:0\(min(index, 3)).000Z")
                if id == "conv-2" {
                    try script.handsOver(reason: .customerRequest, skills: ["billing"], at: "2026-03-10T08:59:59.000Z")
                    try script.queued("billing", priority: 2, reason: .customerRequest, at: "2026-03-10T08:59:59.500Z")
                }
                events += script.events
            }
            try await models.apply(events)
            let queries = ConversationQueries(pool: models.pool, schema: models.schema(ReadModels.gateway))

            var seen: [String] = []
            var after: ConversationQueries.Position?
            repeat {
                let page = try await queries.list(tenant: "default", after: after, limit: 2)
                #expect(page.conversations.count <= 2)
                seen += page.conversations.map(\.conversationID)
                after = page.next
            } while after != nil
            // conv-2's last activity is its own message (the handover came earlier in time).
            #expect(seen == ["conv-5", "conv-4", "conv-3", "conv-2", "conv-1"])

            let handedOver = try await queries.list(tenant: "default", filter: .init(status: .handedOver), limit: 10)
            #expect(handedOver.conversations.map(\.conversationID) == ["conv-2"])
            #expect(handedOver.conversations.first?.owner == .human)
            #expect(handedOver.next == nil)
            #expect(try await queries.list(tenant: "default", filter: .init(owner: .ai), limit: 10).conversations.count == 4)
            #expect(try await queries.list(tenant: "default", filter: .init(customerID: "cus-2"), limit: 10).conversations.map(\.conversationID) == ["conv-4"])
            #expect(try await queries.list(tenant: "other", limit: 10).conversations.isEmpty)
        }
    }

    @Test func auditEntriesComeInLogOrderAfterAnOffsetAndTheLastOneIsFound() async throws {
        try await ScratchReadModels.with([ReadModels.gateway]) { models in
            var a = ConversationScript("conv-a")
            try a.customerSays("one", at: "2026-03-10T09:00:00.000Z")
            try a.replies("two", at: "2026-03-10T09:00:01.000Z")
            try a.customerSays("three", at: "2026-03-10T09:00:02.000Z")
            var b = ConversationScript("conv-b")
            try b.customerSays("elsewhere", at: "2026-03-10T09:00:03.000Z")
            try await models.apply(a.events + b.events, firstOffset: 10)
            let audit = AuditQueries(pool: models.pool, schema: models.schema(ReadModels.gateway))

            let all = try await audit.events(conversation: "conv-a", tenant: "default", limit: 50)
            #expect(all.map(\.logOffset) == [10, 11, 12])
            #expect(all.map(\.type) == ["MessageReceived", "ReplyDelivered", "MessageReceived"])
            #expect(try all.map { try EventCodec.decode(Array($0.envelope.utf8)).id } == a.events.map(\.id), "the envelope is the record as logged")
            #expect(try await audit.events(conversation: "conv-a", tenant: "default", afterOffset: 10, limit: 1).map(\.logOffset) == [11])
            #expect(try await audit.events(conversation: "conv-a", tenant: "other", limit: 50).isEmpty)
            #expect(try await audit.lastEvent(conversation: "conv-a", tenant: nil)?.logOffset == 12)
            #expect(try await audit.lastEvent(conversation: "conv-none", tenant: nil) == nil)
        }
    }

    @Test func aTicketCarriesItsFactsInNameOrderAndCountsDecisions() async throws {
        try await ScratchReadModels.with([ReadModels.cases]) { models in
            var a = ConversationScript("conv-a")
            try a.customerSays("Where is ABC123?", at: "2026-03-10T09:00:00.000Z")
            let decision = try a.decides(
                intent: "order_status",
                entities: ["order_id": SlotValue(value: "ABC123", source: .customer), "carrier": SlotValue(value: "dhl", source: .inferred)],
                next: .toolCalls, at: "2026-03-10T09:00:00.500Z")
            try a.plans(tools: ["get_order_status"], at: "2026-03-10T09:00:00.600Z")
            try a.decides(intent: "order_status", at: "2026-03-10T09:00:00.900Z")
            try a.replies("It ships tomorrow.", at: "2026-03-10T09:00:01.000Z")
            try await models.apply(a.events)
            let tickets = TicketQueries(pool: models.pool, schema: models.schema(ReadModels.cases))

            let ticket = try #require(try await tickets.ticket(conversation: "conv-a", tenant: "default"))
            #expect(ticket.status == .answered)
            #expect(ticket.intent == "order_status")
            #expect(ticket.workflow == "get_order_status")
            #expect(ticket.decisionCount == 2)
            #expect(ticket.facts.map(\.name) == ["carrier", "order_id"])
            #expect(ticket.facts.map(\.provenance) == ["inferred", "customer"])
            #expect(ticket.facts.allSatisfy { $0.setByEvent == decision.id && $0.setAtMillis == decision.occurredAtMillis })
            #expect(ticket.openedAtMillis == ConversationScript.millis("2026-03-10T09:00:00.000Z"))
            #expect(ticket.updatedAtMillis == ConversationScript.millis("2026-03-10T09:00:01.000Z"))
            #expect(try await tickets.ticket(conversation: "conv-a", tenant: "other") == nil)
            #expect(try await tickets.ticket(conversation: "conv-none", tenant: nil) == nil)
        }
    }

    @Test func spendIsSummedByTenantTimeConversationAndGroup() async throws {
        try await ScratchReadModels.with([ReadModels.costs]) { models in
            var a = ConversationScript("conv-a")
            try a.customerSays("q", at: "2026-03-10T09:00:00.000Z")
            try a.callsLLM(model: "small", costMicros: 1_500, tokensIn: 100, tokensOut: 10, latencyMs: 200, at: "2026-03-10T09:00:00.100Z")
            try a.callsLLM(model: "large", costMicros: 40_000, tokensIn: 300, tokensOut: 30, latencyMs: 900, outcome: .timeout, at: "2026-03-10T10:00:00.000Z")
            var b = ConversationScript("conv-b")
            try b.customerSays("q", at: "2026-03-10T11:00:00.000Z")
            try b.callsLLM(model: "small", costMicros: 2_500, tokensIn: 50, tokensOut: 5, latencyMs: 100, at: "2026-03-10T11:00:00.100Z")
            var other = ConversationScript("conv-x", tenant: "other")
            try other.customerSays("q", at: "2026-03-10T09:30:00.000Z")
            try other.callsLLM(model: "small", costMicros: 999_000, at: "2026-03-10T09:30:00.100Z")
            try await models.apply(a.events + b.events + other.events)
            let costs = CostQueries(pool: models.pool, schema: models.schema(ReadModels.costs))
            func at(_ time: String) -> Date { Date(timeIntervalSince1970: Double(ConversationScript.millis(time)) / 1000) }

            // The planner's budgets: a tenant since a time (inclusive), a conversation.
            #expect(try await costs.total(.init(tenant: "default")).costMicros == 44_000)
            #expect(try await costs.total(.init(tenant: "default", from: at("2026-03-10T10:00:00.000Z"))).costMicros == 42_500)
            #expect(try await costs.total(.init(conversation: "conv-a")).costMicros == 41_500)
            #expect(try await costs.total(.init(tenant: "nobody")) == .zero)
            // The CLI's time travel: everything in the conversation.
            let conversation = try await costs.total(.init(conversation: "conv-a"))
            #expect((conversation.calls, conversation.tokensIn + conversation.tokensOut) == (2, 440))

            // The gateway's summary: a window [from, until), grouped, most expensive first.
            let window = CostQueries.Filter(tenant: "default", from: at("2026-03-10T09:00:00.000Z"), until: at("2026-03-10T11:00:00.100Z"))
            let byModel = try await costs.spend(window, groupedBy: .model)
            #expect(byModel == [
                CostQueries.Spend(key: "large", calls: 1, costMicros: 40_000, tokensIn: 300, tokensOut: 30, latencyMsTotal: 900, successes: 0),
                CostQueries.Spend(key: "small", calls: 1, costMicros: 1_500, tokensIn: 100, tokensOut: 10, latencyMsTotal: 200, successes: 1),
            ], "the call at the window's end is outside it")
            #expect(try await costs.spend(window, groupedBy: .conversation).map(\.key) == ["conv-a"])
            #expect(try await costs.spend(.init(), groupedBy: .tenant).map(\.key) == ["other", "default"])
            #expect(try await costs.spend(.init(tenant: "nobody"), groupedBy: .model).isEmpty)
        }
    }

    @Test func handoversComeByPriorityThenAgeAndCarryTheirSkills() async throws {
        try await ScratchReadModels.with([ReadModels.hilqueue]) { models in
            var events: [EventEnvelope] = []
            for (id, priority, minute) in [("conv-late-urgent", 1, 5), ("conv-early", 2, 1), ("conv-urgent", 1, 3)] {
                var script = ConversationScript(id)
                try script.customerSays("help", at: "2026-03-10T09:0\(minute):00.000Z")
                try script.handsOver(reason: .toolFailed, skills: ["billing", "tier2"], at: "2026-03-10T09:0\(minute):01.000Z")
                try script.queued("billing", priority: priority, reason: .toolFailed, at: "2026-03-10T09:0\(minute):02.000Z")
                events += script.events
            }
            var waiting = ConversationScript("conv-requested")
            try waiting.customerSays("help", at: "2026-03-10T09:09:00.000Z")
            try waiting.handsOver(reason: .customerRequest, skills: [], at: "2026-03-10T09:09:01.000Z")
            try await models.apply(events + waiting.events)
            let queries = HandoverQueries(pool: models.pool, schema: models.schema(ReadModels.hilqueue))

            let queued = try await queries.queue(tenant: "default", phases: [.pendingHuman], limit: 200)
            #expect(queued.map(\.conversationID) == ["conv-urgent", "conv-late-urgent", "conv-early"])
            #expect(queued.first?.skills == ["billing", "tier2"])
            #expect(queued.first?.queuedAtMillis == ConversationScript.millis("2026-03-10T09:03:02.000Z"))
            #expect(try await queries.queue(tenant: "default", phases: [.pendingHuman], limit: 1).count == 1)
            #expect(try await queries.queue(tenant: "default", phases: [.pendingHuman], queue: "tech", limit: 200).isEmpty)
            let requested = try await queries.queue(tenant: "default", phases: [.handover], limit: 200)
            #expect(requested.map(\.conversationID) == ["conv-requested"])
            let waitingRow = try #require(requested.first)
            #expect(waitingRow.queue == nil && waitingRow.priority == nil && waitingRow.skills.isEmpty)
            #expect(try await queries.queue(tenant: "other", phases: [.pendingHuman], limit: 200).isEmpty)
        }
    }

    /// A handover's whole life through the projection: the phase follows the state machine, the
    /// notes are kept, and events the phase does not allow (a claim before the queue, a reply
    /// after resolving, an SLA breach of an active conversation) change nothing.
    @Test func aHandoverLivesThroughTheStateMachine() async throws {
        try await ScratchReadModels.with([ReadModels.hilqueue]) { models in
            var script = ConversationScript("conv-h")
            try script.customerSays("I want a human", at: "2026-03-10T10:00:00.000Z")
            let request = try script.handsOver(reason: .customerRequest, skills: ["billing"], at: "2026-03-10T10:00:01.000Z")
            let handover = request.correlationID
            try script.react(HandoverClaimed(handoverID: handover, agentID: "agent_early", queue: "billing"), at: "2026-03-10T10:00:01.500Z")
            try script.replies("Passing you to a colleague.", at: "2026-03-10T10:00:02.000Z")
            try script.queued("billing", priority: 2, reason: .customerRequest, at: "2026-03-10T10:00:02.000Z")
            let queries = HandoverQueries(pool: models.pool, schema: models.schema(ReadModels.hilqueue))
            try await models.apply(script.events)
            var row = try #require(try await queries.conversation("conv-h", tenant: "default"))
            #expect(row.phase == .pendingHuman && row.agentID == nil, "a claim before the queue changes nothing")
            #expect(row.handoverID == handover && row.queue == "billing" && row.reason == "customer_request")

            var more = script
            let start = more.events.count
            try more.react(HandoverClaimed(handoverID: handover, agentID: "agent_ana", queue: "billing"), at: "2026-03-10T10:01:00.000Z")
            try more.react(AgentReplied(handoverID: handover, messageID: UUID(), agentID: "agent_ana", text: "Hi, Ana here."), at: "2026-03-10T10:01:10.000Z")
            try more.customerSays("Thanks Ana", at: "2026-03-10T10:01:20.000Z")
            try more.react(InternalNoteAdded(handoverID: handover, noteID: UUID(), agentID: "agent_ana", text: "VIP"), at: "2026-03-10T10:01:30.000Z")
            try more.react(HandoverSLABreached(handoverID: handover, queue: "billing", waitedSeconds: 400, slaSeconds: 300, priority: 0), at: "2026-03-10T10:01:31.000Z")
            try more.react(HandoverTransferred(handoverID: handover, fromAgent: "agent_ana", toAgent: nil, toQueue: "tech", note: "router"), at: "2026-03-10T10:02:00.000Z")
            try await models.apply(Array(more.events[start...]), firstOffset: Int64(start))
            row = try #require(try await queries.conversation("conv-h", tenant: "default"))
            #expect(row.phase == .pendingHuman && row.queue == "tech" && row.agentID == nil && !row.slaBreached, "an SLA breach of an active conversation is refused")
            #expect(try await queries.queue(tenant: "default", phases: [.pendingHuman], queue: "tech", limit: 10).map(\.conversationID) == ["conv-h"])

            let again = more.events.count
            try more.react(HandoverClaimed(handoverID: handover, agentID: "agent_bo", queue: "tech"), at: "2026-03-10T10:03:00.000Z")
            #expect(try await { try await models.apply(Array(more.events[again...]), firstOffset: Int64(again)); return try await queries.held(by: "agent_bo", tenant: "default").map(\.conversationID) }() == ["conv-h"])
            let last = more.events.count
            try more.react(ConversationResolved(handoverID: handover, agentID: "agent_bo", note: "fixed"), at: "2026-03-10T10:04:00.000Z")
            try more.react(AgentReplied(handoverID: handover, messageID: UUID(), agentID: "agent_bo", text: "too late"), at: "2026-03-10T10:04:01.000Z")
            try await models.apply(Array(more.events[last...]), firstOffset: Int64(last))
            row = try #require(try await queries.conversation("conv-h", tenant: "default"))
            #expect(row.phase == .resolved)
            #expect(try await queries.notes("conv-h").map(\.text) == ["VIP"])
            #expect(try await queries.conversation("conv-h", tenant: "other") == nil)

            // The AI's turns do not reach this model: a conversation never handed over is not in it.
            var quiet = ConversationScript("conv-ai-only")
            try quiet.customerSays("Where is ABC123?", at: "2026-03-10T11:00:00.000Z")
            try quiet.replies("It shipped.", at: "2026-03-10T11:00:01.000Z")
            try await models.apply(quiet.events, firstOffset: 100)
            #expect(try await queries.conversation("conv-ai-only", tenant: "default") == nil)
        }
    }
}
