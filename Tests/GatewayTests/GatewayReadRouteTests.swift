import DatabaseTestSupport
import Events
import Foundation
@testable import GatewayApp
import HummingbirdTesting
import JSON
import ReadModelTestSupport
import ReadModels
import Testing

/// The read API against rows the real projections wrote (into scratch schemas) from events the
/// test made: the exact bytes clients get, so a change of field, format or order shows.
@Suite(.timeLimit(.minutes(2)))
struct GatewayReadRouteTests {
    /// Two conversations of the gateway's tenant (one answered, one handed over) and one of
    /// another tenant, with LLM calls on two days.
    struct Story: Sendable {
        var a = ConversationScript("conv-a", customer: "cus-1")
        var b = ConversationScript("conv-b", customer: "cus-2")
        var other = ConversationScript("conv-x", tenant: "other", customer: "cus-9")
        var events: [EventEnvelope] { a.events + b.events + other.events }

        init() throws {
            try a.customerSays("Where is ABC123?", at: "2026-03-10T09:00:00.123Z")
            try a.decides(intent: "order_status", entities: ["order_id": SlotValue(value: "ABC123", source: .customer)], next: .toolCalls, at: "2026-03-10T09:00:00.200Z")
            try a.callsLLM(model: "small", costMicros: 1_500, tokensIn: 100, tokensOut: 10, latencyMs: 200, at: "2026-03-10T09:00:00.250Z")
            try a.callsLLM(model: "large", costMicros: 40_000, tokensIn: 300, tokensOut: 30, latencyMs: 900, outcome: .timeout, at: "2026-03-10T09:00:00.260Z")
            try a.plans(tools: ["get_order_status"], at: "2026-03-10T09:00:00.300Z")
            try a.replies("It ships tomorrow.", at: "2026-03-10T09:00:01.456Z")
            try a.callsLLM(model: "small", costMicros: 7_000, at: "2026-03-11T08:00:00.000Z")
            try b.customerSays("I want a human", at: "2026-03-10T09:10:00.000Z")
            try b.callsLLM(model: "small", costMicros: 2_500, tokensIn: 50, tokensOut: 5, latencyMs: 100, at: "2026-03-10T09:10:00.050Z")
            try b.handsOver(reason: .customerRequest, skills: ["general"], at: "2026-03-10T09:10:00.100Z")
            try b.queued("general", priority: 2, reason: .customerRequest, at: "2026-03-10T09:10:00.200Z")
            try other.customerSays("Hello", at: "2026-03-10T09:20:00.000Z")
            try other.callsLLM(model: "small", costMicros: 999_000, at: "2026-03-10T09:20:00.100Z")
        }
    }

    /// Runs `test` against a gateway reading scratch schemas filled with `Story`.
    static func withStory(_ test: @escaping @Sendable (Story, any TestClientProtocol) async throws -> Void) async throws {
        let story = try Story()
        try await ScratchReadModels.with([ReadModels.gateway, ReadModels.cases, ReadModels.costs]) { models in
            try await models.apply(story.events)
            try await GatewayUnderTest.run(
                pool: models.pool, gateway: models.schema(ReadModels.gateway), cases: models.schema(ReadModels.cases), costs: models.schema(ReadModels.costs)
            ) { client in try await test(story, client) }
        }
    }

    static func id(_ uuid: UUID) -> String { uuid.uuidString.lowercased() }

    /// A breakdown row in brief.
    static func keyAndCost(_ row: JSONValue) -> String {
        "\(row["key"]?.stringValue ?? "-"): \(row["calls"]?.intValue ?? -1) calls, \(row["cost_micros"]?.intValue ?? -1)"
    }

    @Test func aConversationWithItsMessagesAndTicket() async throws {
        try await Self.withStory { story, client in
            let response = try await client.get("/v1/conversations/conv-a")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let turn = Self.id(story.a.events[0].correlationID)
            let replyID = Self.id(try story.a.events[5].decode(ReplyDelivered.self).replyID)
            let expected = """
                {"conversation_id":"conv-a","customer_id":"cus-1","first_activity_at":"2026-03-10T09:00:00.123Z",\
                "last_activity_at":"2026-03-10T09:00:01.456Z","messages":[\
                {"event_id":"0-0","message_id":"\(Self.id(story.a.events[0].id))","occurred_at":"2026-03-10T09:00:00.123Z","role":"customer","text":"Where is ABC123?","turn_id":"\(turn)"},\
                {"event_id":"0-5","kind":"answer","message_id":"\(replyID)","occurred_at":"2026-03-10T09:00:01.456Z","role":"assistant","text":"It ships tomorrow.","turn_id":"\(turn)"}],\
                "owner":"ai","phase":"finished","status":"open","ticket":{"decisions":1,"facts":[\
                {"name":"order_id","provenance":"customer","set_by_event":"\(Self.id(story.a.events[1].id))","value":"ABC123"}],\
                "intent":"order_status","status":"answered","workflow":"get_order_status"},"turn_count":1}
                """
            #expect(response.text == expected)

            let handedOver = try await client.get("/v1/conversations/conv-b").json
            #expect(handedOver?["status"] == "handed_over")
            #expect(handedOver?["owner"] == "human")
            #expect(handedOver?["phase"] == "pending_human", "requested, then queued")
            #expect(handedOver?["ticket"]?["status"] == "handed_over")
            #expect(handedOver?["ticket"]?["facts"] == [])
        }
    }

    @Test func anotherTenantsConversationIsNotFound() async throws {
        try await Self.withStory { _, client in
            for id in ["conv-x", "conv-none"] {
                GatewayValidationRouteTests.expectProblem(try await client.get("/v1/conversations/\(id)"), .notFound, "conversation-not-found", field: "id")
            }
        }
    }

    @Test func theListPagesNewestFirstAndFilters() async throws {
        try await Self.withStory { _, client in
            let first = try await client.get("/v1/conversations?limit=1")
            let cursor = "\(ConversationScript.millis("2026-03-10T09:10:00.200Z")).conv-b"
            #expect(first.text == """
                {"conversations":[{"conversation_id":"conv-b","customer_id":"cus-2","last_activity_at":"2026-03-10T09:10:00.200Z",\
                "owner":"human","status":"handed_over","turn_count":1}],"next_cursor":"\(cursor)"}
                """)
            let escaped = cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let second = try await client.get("/v1/conversations?limit=1&cursor=\(escaped)").json
            #expect(second?["conversations"]?[0]?["conversation_id"] == "conv-a")
            #expect(second?["conversations"]?[0]?["last_activity_at"] == "2026-03-10T09:00:01.456Z")
            #expect(second?["next_cursor"] == .null)

            func ids(_ query: String) async throws -> [String] {
                try await client.get("/v1/conversations?" + query).json?["conversations"]?.arrayValue?.compactMap { $0["conversation_id"]?.stringValue } ?? ["no list"]
            }
            #expect(try await ids("") == ["conv-b", "conv-a"], "the other tenant's conversation is not listed")
            #expect(try await ids("status=handed_over") == ["conv-b"])
            #expect(try await ids("owner=ai") == ["conv-a"])
            #expect(try await ids("customer_id=cus-1") == ["conv-a"])
            #expect(try await ids("status=open&owner=human") == [])
        }
    }

    @Test func eventsComeAsLoggedInPagesAfterAnOffset() async throws {
        try await Self.withStory { story, client in
            let first = try #require(try await client.get("/v1/conversations/conv-a/events?limit=4").json)
            let firstIDs = first["events"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
            #expect(firstIDs == story.a.events.prefix(4).map { Self.id($0.id) })
            #expect(first["next_after"] == "3", "the offset of the page's last event")
            let rest = try #require(try await client.get("/v1/conversations/conv-a/events?limit=4&after=3").json)
            #expect(rest["events"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == story.a.events.dropFirst(4).map { Self.id($0.id) })
            #expect(rest["next_after"] == .null, "a short page is the last")
            // The envelope as the log holds it, not a re-rendering.
            #expect(rest["events"]?[0] == (try JSONValue.parse(EventCodec.encode(story.a.events[4]))))
            #expect(try await client.get("/v1/conversations/conv-x/events").json?["events"] == [])
        }
    }

    @Test func theCostSummaryOfADayByModel() async throws {
        try await Self.withStory { _, client in
            let response = try await client.get("/v1/costs/summary?period=day&group_by=model&at=2026-03-10T12:00:00.000Z")
            #expect(response.status == .ok)
            #expect(response.text == """
                {"breakdown":[\
                {"avg_latency_ms":900,"calls":1,"cost_micros":40000,"cost_usd":"0.040000","key":"large","success_rate":0,"tokens_in":300,"tokens_out":30},\
                {"avg_latency_ms":150,"calls":2,"cost_micros":4000,"cost_usd":"0.004000","key":"small","success_rate":1,"tokens_in":150,"tokens_out":15}],\
                "from":"2026-03-10T00:00:00.000Z","group_by":"model","period":"day","to":"2026-03-11T00:00:00.000Z",\
                "total":{"avg_latency_ms":400,"calls":3,"cost_micros":44000,"cost_usd":"0.044000","success_rate":0.667,"tokens_in":450,"tokens_out":45}}
                """)
        }
    }

    @Test func theCostSummaryByConversationAndTenantOverOtherPeriods() async throws {
        try await Self.withStory { _, client in
            let hour = try #require(try await client.get("/v1/costs/summary?period=hour&group_by=conversation&at=2026-03-10T09:59:59.999Z").json)
            #expect(hour["breakdown"]?.arrayValue?.map(Self.keyAndCost) == ["conv-a: 2 calls, 41500", "conv-b: 1 calls, 2500"])
            #expect(hour["from"] == "2026-03-10T09:00:00.000Z")
            #expect(hour["to"] == "2026-03-10T10:00:00.000Z")
            // A month holds both days; another tenant's spend is never in it.
            let month = try #require(try await client.get("/v1/costs/summary?period=month&group_by=tenant&at=2026-03-31T23:00:00Z").json)
            #expect(month["breakdown"]?.arrayValue?.map(Self.keyAndCost) == ["default: 4 calls, 51000"])
            #expect(month["total"]?["cost_usd"] == "0.051000")
            #expect(month["from"] == "2026-03-01T00:00:00.000Z")
            #expect(month["to"] == "2026-04-01T00:00:00.000Z")
            // Nothing spent: zero totals, no averages.
            let empty = try #require(try await client.get("/v1/costs/summary?period=day&at=2026-01-01T00:00:00.000Z").json)
            #expect(empty["breakdown"] == [])
            #expect(empty["total"] == ["calls": 0, "cost_micros": 0, "cost_usd": "0.000000", "tokens_in": 0, "tokens_out": 0, "avg_latency_ms": nil, "success_rate": nil])
        }
    }
}
