import DevStack
import EventBus
import Events
import Foundation
import HTTPClient
import JSON
import Kafka
import Logging
import Postgres
import Testing
import LogTopics

let foundOrderSequence = [
    "MessageReceived", "DecisionMade", "PlanProposed", "StepApproved", "ToolCallStarted",
    "ToolSucceeded", "StepVerified", "ReplyDrafted", "ReplyApproved", "ReplyDelivered",
]
let clarificationSequence = ["MessageReceived", "DecisionMade", "ClarificationRequested", "ReplyDrafted", "ReplyApproved", "ReplyDelivered"]

/// The platform as real processes: broker, five services, Postgres; driven over HTTP; the log
/// read back by a separate consumer. Serialized: each test runs a whole platform on 2 cores.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct TurnFlowTests {
    @Test func foundUnknownAndClarifiedOrdersGetGroundedRepliesWithExactEventSequences() async throws {
        try await Platform.with("turns") { p in
            // 1. A shipped order: carrier and tracking number come from the tool.
            let found = try await p.post("conv-found", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#)
            #expect(found.status == 200)
            let foundText = try #require(found.json["reply"]?["text"]?.stringValue)
            #expect(foundText.contains("ABC123") && foundText.contains("UPS") && foundText.contains("1Z999AA10123456784"), "\(foundText)")
            let turnID = try #require(found.json["turn_id"]?.stringValue)

            // 2. An order that does not exist: the reply says so, from the tool's answer.
            let unknown = try await p.post("conv-unknown", #"{"customer_id":"cus_1002","text":"Can you track order ZZZ999?"}"#)
            #expect(unknown.status == 200)
            let unknownText = try #require(unknown.json["reply"]?["text"]?.stringValue)
            #expect(unknownText.contains("couldn't find") && unknownText.contains("ZZZ999"), "\(unknownText)")

            // 3. No order id: one question for it, then the answer once it is given.
            let ask = try await p.post("conv-clarify", #"{"customer_id":"cus_1001","text":"Where is my order?"}"#)
            #expect(ask.status == 200)
            #expect(ask.json["reply"]?["kind"] == "clarification")
            #expect(ask.json["reply"]?["text"]?.stringValue?.contains("order number") == true)
            let answer = try await p.post("conv-clarify", #"{"customer_id":"cus_1001","text":"It's abc123"}"#)
            #expect(answer.status == 200)
            #expect(answer.json["reply"]?["text"]?.stringValue?.contains("1Z999AA10123456784") == true)

            // Exact event sequences, read back from the log by a separate consumer.
            let foundEvents = try await p.log.waitForEvents(conversation: "conv-found", count: foundOrderSequence.count)
            #expect(foundEvents.map(\.type) == foundOrderSequence)
            #expect(Set(foundEvents.map { $0.correlationID.uuidString.lowercased() }) == [turnID], "one turn id across the chain")
            // Each event names the event it reacts to.
            let causes = [
                "DecisionMade": "MessageReceived", "PlanProposed": "MessageReceived", "StepApproved": "PlanProposed",
                "ToolCallStarted": "StepApproved", "ToolSucceeded": "StepApproved", "StepVerified": "ToolSucceeded",
                "ReplyDrafted": "StepVerified", "ReplyApproved": "ReplyDrafted", "ReplyDelivered": "ReplyApproved",
            ]
            let byID = Dictionary(uniqueKeysWithValues: foundEvents.map { ($0.id, $0) })
            #expect(foundEvents[0].causationID == nil)
            for event in foundEvents.dropFirst() {
                #expect(event.causationID.flatMap { byID[$0]?.type } == causes[event.type], "cause of \(event.type)")
            }
            let unknownEvents = try await p.log.waitForEvents(conversation: "conv-unknown", count: foundOrderSequence.count)
            #expect(unknownEvents.map(\.type) == foundOrderSequence)
            let result = try #require(unknownEvents.first { $0.type == "ToolSucceeded" }).payload["result"]
            #expect(result?["found"] == .bool(false))
            let clarifyEvents = try await p.log.waitForEvents(conversation: "conv-clarify", count: clarificationSequence.count + foundOrderSequence.count)
            #expect(clarifyEvents.map(\.type) == clarificationSequence + foundOrderSequence)

            // Every event the services appended validates against docs/events.
            for event in foundEvents + unknownEvents + clarifyEvents {
                #expect(PublishedSchemas.validate(event).isEmpty, "\(event.type): \(PublishedSchemas.validate(event))")
            }

            // The conversation read model, from the gateway's Postgres projection.
            let conversation = try await p.eventually("projected conversation") { () -> JSONValue? in
                let reply = try await p.get("/v1/conversations/conv-clarify")
                guard reply.json["messages"]?.arrayValue?.count == 4 else { return nil }
                return reply.json
            }
            #expect(conversation["turn_count"] == 2)
            #expect(conversation["status"] == "open")
            let messages = try #require(conversation["messages"]?.arrayValue)
            #expect(messages.map { $0["role"]?.stringValue ?? "" } == ["customer", "assistant", "customer", "assistant"])
            #expect(messages[2]["text"] == "It's abc123")
            #expect(messages[3]["text"]?.stringValue?.contains("UPS") == true)

            // The turn as a waterfall, from the log alone, through the real CLI.
            let trace = try runCLI(p, ["trace", turnID])
            #expect(trace.status == 0, "\(trace.stderr)")
            #expect(trace.stdout.contains("\(foundOrderSequence.count) events"))
            for type in foundOrderSequence { #expect(trace.stdout.contains(type)) }
            #expect(trace.stdout.contains("+") && trace.stdout.contains("after StepApproved"))
            let conversationTrace = try runCLI(p, ["trace", "conv-clarify"])
            #expect(conversationTrace.stdout.components(separatedBy: "turn ").count - 1 == 2, "two turns")

            // The case record, with facts and their provenance.
            let ticket = try await p.eventually("ticket projected") { () -> JSONValue? in
                let t = try await p.get("/v1/conversations/conv-clarify").json["ticket"]
                guard t?["status"] == "answered", t?["decisions"] == 2 else { return nil }
                return t
            }
            #expect(ticket["intent"] == "order_status" && ticket["workflow"] == "get_order_status")
            let facts = Dictionary(uniqueKeysWithValues: (ticket["facts"]?.arrayValue ?? []).map { ($0["name"]?.stringValue ?? "", $0) })
            #expect(facts["order_id"]?["value"] == "ABC123" && facts["order_id"]?["provenance"] == "customer")
            #expect(facts["get_order_status.carrier"]?["value"] == "UPS" && facts["get_order_status.carrier"]?["provenance"] == "tool")
            #expect(facts["get_order_status.status"]?["value"] == "shipped")
            let decidedBy = try #require(clarifyEvents.last { $0.type == "DecisionMade" })
            #expect(facts["order_id"]?["set_by_event"]?.stringValue == decidedBy.id.uuidString.lowercased(), "the fact names the event that set it")

            // Time travel: the conversation as it was right after its first reply, and at the end.
            let offsets = p.log.allRecords.filter { (try? EventCodec.decode($0.value))?.conversationID == "conv-clarify" }
            let deliveries = offsets.filter { $0.header(EventHeaders.type) == "ReplyDelivered" }.map(\.offset)
            let firstReply = try #require(deliveries.first)
            let before = try runCLI(p, ["conversation", "show", "conv-clarify", "--at-offset", String(firstReply)])
            #expect(before.status == 0, "\(before.stderr)")
            let beforeState = try JSONValue.parse(Array(before.stdout.utf8))
            #expect(beforeState["turn_count"] == 1)
            #expect(beforeState["messages"]?.arrayValue?.map { $0["role"]?.stringValue ?? "" } == ["customer", "assistant"])
            #expect(beforeState["last_event"]?["type"] == "ReplyDelivered")
            #expect(beforeState["ticket"]?["status"] == "awaiting_customer", "the ticket as it was: \(beforeState["ticket"] ?? .null)")
            #expect(beforeState["ticket"]?["facts"]?.arrayValue?.isEmpty == true, "no order id given yet")
            #expect(beforeState["costs"]?["llm_calls"] == 0)
            let justBefore = try JSONValue.parse(Array(try runCLI(p, ["conversation", "show", "conv-clarify", "--at-offset", String(firstReply - 1)]).stdout.utf8))
            #expect(justBefore["messages"]?.arrayValue?.count == 1, "before the reply was delivered")
            let now = try JSONValue.parse(Array(try runCLI(p, ["conversation", "show", "conv-clarify"]).stdout.utf8))
            #expect(now["turn_count"] == 2 && now["messages"]?.arrayValue?.count == 4)
            #expect(now["ticket"]?["status"] == "answered")
            #expect(now["ticket"]?["facts"]?.arrayValue?.contains { $0["name"] == "order_id" && $0["value"] == "ABC123" } == true)
            let ancient = try JSONValue.parse(Array(try runCLI(p, ["conversation", "show", "conv-clarify", "--at", "2020-01-01T00:00:00Z"]).stdout.utf8))
            #expect(ancient["exists"] == false)

            // The conversation's events from the audit projection equal the log's.
            let audited = try await p.eventually("audited events") { () -> [JSONValue]? in
                let list = try await p.get("/v1/conversations/conv-found/events").json["events"]?.arrayValue ?? []
                guard list.count == foundEvents.count else { return nil }
                return list
            }
            #expect(try audited.map { try EventCodec.decode($0.serialized()) } == foundEvents)
            let page = try await p.get("/v1/conversations/conv-found/events?limit=4")
            #expect(page.json["events"]?.arrayValue?.count == 4)
            let rest = try await p.get("/v1/conversations/conv-found/events?after=\(page.json["next_after"]?.stringValue ?? "x")")
            #expect(rest.json["events"]?.arrayValue?.count == foundEvents.count - 4)

            // The conversation list, newest activity first, paged with an opaque cursor.
            let first = try await p.get("/v1/conversations?limit=2")
            let second = try await p.get("/v1/conversations?limit=2&cursor=\(first.json["next_cursor"]?.stringValue ?? "")")
            let listed = (first.json["conversations"]?.arrayValue ?? []) + (second.json["conversations"]?.arrayValue ?? [])
            #expect(listed.compactMap { $0["conversation_id"]?.stringValue } == ["conv-clarify", "conv-unknown", "conv-found"])
            #expect(second.json["next_cursor"] == .null)
            #expect(try await p.get("/v1/conversations?status=handed_over").json["conversations"]?.arrayValue?.isEmpty == true)
            #expect(try await p.get("/v1/conversations?customer_id=cus_1002").json["conversations"]?.arrayValue?.count == 1)
            for bad in ["status=closed", "limit=0", "limit=500", "cursor=%21%21", "owner=robot"] {
                let reply = try await p.get("/v1/conversations?\(bad)")
                #expect(reply.status == 400 && reply.contentType == "application/problem+json", "\(bad)")
            }
        }
    }

    @Test func unknownIntentIsAnsweredPolitelyAndHandedOver() async throws {
        try await Platform.with("handover") { p in
            let reply = try await p.post("conv-poem", #"{"customer_id":"cus_1003","text":"Write me a poem about cheese"}"#)
            #expect(reply.status == 200)
            #expect(reply.json["reply"]?["kind"] == "handover")
            #expect(reply.json["reply"]?["text"]?.stringValue?.contains("member of our team") == true)
            let events = try await p.log.waitForEvents(conversation: "conv-poem", count: 7)
            #expect(Array(events.map(\.type).prefix(4)) == ["MessageReceived", "DecisionMade", "ReplyDrafted", "HandoverRequested"])
            #expect(Set(events.map(\.type).suffix(3)) == ["ReplyApproved", "ReplyDelivered", "HandoverQueued"])
            let queue = try await p.eventually("handover in queue") { () -> [JSONValue]? in
                let list = try await p.get("/v1/handovers", service: "hilqueue").json["handovers"]?.arrayValue ?? []
                return list.isEmpty ? nil : list
            }
            #expect(queue.first?["conversation_id"] == "conv-poem")
            #expect(queue.first?["reason"] == "unknown_intent")
            let status = try await p.eventually("conversation handed over") { () -> JSONValue? in
                let c = try await p.get("/v1/conversations/conv-poem").json
                guard c["status"] == "handed_over" else { return nil }
                return c
            }
            #expect(status["owner"] == "human")
            let handedOver = try await p.eventually("ticket handed over") { () -> JSONValue? in
                let t = try await p.get("/v1/conversations/conv-poem").json["ticket"]
                guard t?["status"] == "handed_over" else { return nil }
                return t
            }
            #expect(handedOver["intent"] == "unknown")
        }
    }

    @Test func badInputGetsProblemJSONAndAppendsNothing() async throws {
        try await Platform.with("badinput") { p in
            // A valid message first, so the log is not empty and offsets are meaningful.
            let ok = try await p.post("conv-ok", #"{"customer_id":"c1","text":"hello"}"#)
            #expect(ok.status == 200)
            _ = try await p.log.waitForEvents(conversation: "conv-ok", count: 5)
            try await Task.sleep(for: .milliseconds(300))
            let before = p.log.allRecords.count

            let cases: [(String, [UInt8], HTTPHeaders, Int, String)] = [
                ("conv-1", Array(#"{"customer_id":"c1","text":"#.utf8), ["content-type": "application/json"], 400, "invalid-json"),
                ("conv-1", Array((#"{"customer_id":"c1","text":""# + String(repeating: "a", count: 17 * 1024) + #""}"#).utf8), ["content-type": "application/json"], 413, "body-too-large"),
                ("conv-1", Array(#"{"customer_id":"c1","text":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8), ["content-type": "application/json"], 400, "invalid-utf8"),
                ("conv-1", Array(#"{"customer_id":"c1","text":"   "}"#.utf8), ["content-type": "application/json"], 422, "empty-text"),
                ("bad%20id", Array(#"{"customer_id":"c1","text":"hi"}"#.utf8), ["content-type": "application/json"], 400, "invalid-conversation-id"),
                (String(repeating: "x", count: 129), Array(#"{"customer_id":"c1","text":"hi"}"#.utf8), ["content-type": "application/json"], 400, "invalid-conversation-id"),
                ("conv-1", Array(#"{"customer_id":"c1"}"#.utf8), ["content-type": "application/json"], 422, "invalid-field"),
                ("conv-1", Array(#"{"customer_id":"c1","text":"hi","admin":true}"#.utf8), ["content-type": "application/json"], 422, "unknown-field"),
                ("conv-1", Array("text=hi".utf8), ["content-type": "application/x-www-form-urlencoded"], 415, "unsupported-media-type"),
            ]
            for (conversation, body, headers, status, kind) in cases {
                let reply = try await p.post(conversation, bytes: body, wait: nil, headers: headers)
                #expect(reply.status == status, "\(kind): got \(reply.status) \(reply.json)")
                #expect(reply.contentType == "application/problem+json", "\(kind)")
                #expect(reply.json["type"]?.stringValue?.hasSuffix("/" + kind) == true, "\(kind): \(reply.json)")
                #expect(reply.json["title"]?.stringValue?.isEmpty == false)
            }
            let badWait = try await p.post("conv-1", #"{"customer_id":"c1","text":"hi"}"#, wait: 31)
            #expect(badWait.status == 400 && badWait.json["field"] == "wait")
            let notFound = try await p.get("/v1/conversations/nope")
            #expect(notFound.status == 404 && notFound.contentType == "application/problem+json")

            // Nothing was appended: give a stray append time to show up, then count.
            try await Task.sleep(for: .seconds(1))
            #expect(p.log.allRecords.count == before)
        }
    }

    @Test func undecodableEventsAreDeadLetteredAndConsumptionContinues() async throws {
        try await Platform.with("dlq") { p in
            var config = KafkaConfig(bootstrapServers: p.stack.environment["SWITCHBOARD_BOOTSTRAP"]!, clientID: "e2e-poison")
            config.fetchWaitMaxMs = 5
            let producer = try KafkaProducer(config: config, logger: Logger(label: "e2e.poison"))
            let poison = try await producer.send(topic: Topics.conversations, key: Array("conv-dlq".utf8), value: Array("{not json".utf8), headers: [KafkaHeader(key: EventHeaders.type, value: Array("MessageReceived".utf8))])
            await producer.close()

            let dead = try LogReader(bootstrap: config.bootstrapServers, topic: Topics.deadLetter)
            let planners = try await p.eventually("dead letter from the planner") { () -> KafkaRecord? in
                dead.allRecords.first { $0.header(DeadLetterHeaders.consumerGroup) == "switchboard.planner" }
            }
            #expect(planners.header(DeadLetterHeaders.originTopic) == Topics.conversations)
            #expect(planners.header(DeadLetterHeaders.originPartition) == String(poison.partition))
            #expect(planners.header(DeadLetterHeaders.originOffset) == String(poison.offset))
            #expect(planners.header(DeadLetterHeaders.error)?.contains("not JSON") == true)
            #expect(planners.value == Array("{not json".utf8))
            await dead.stop()

            // The operator's view, and a fix sent back through the real CLI.
            let listed = try runCLI(p, ["dlq", "list", "--group", "switchboard.planner"])
            #expect(listed.status == 0 && listed.stdout.contains("\(Topics.conversations)/\(poison.partition)@\(poison.offset)"), "\(listed.stdout) \(listed.stderr)")
            let entry = String(listed.stdout.split(separator: "\t").first ?? "")
            let stillBroken = try runCLI(p, ["dlq", "redrive", entry])
            #expect(stillBroken.status != 0 && stillBroken.stderr.contains("still not a valid event"), "\(stillBroken.stderr)")
            let fix = try EventEnvelope.start(MessageReceived(customerID: "cus_1003", text: "Where is my order JKL012?"), conversationID: "conv-dlq", tenantID: "default", producer: "operator@cli")
            let fixFile = p.stack.options.runDirectory + "/fix.json"
            try Data(EventCodec.encode(fix) + [10]).write(to: URL(fileURLWithPath: fixFile))
            let redriven = try runCLI(p, ["dlq", "redrive", entry, "--value-file", fixFile])
            #expect(redriven.status == 0 && redriven.stdout.contains("redriven \(entry) to \(Topics.conversations)"), "\(redriven.stderr)")
            let answered = try await p.eventually("reply to the redriven message") { () -> JSONValue? in
                let c = try await p.get("/v1/conversations/conv-dlq").json
                guard c["messages"]?.arrayValue?.contains(where: { $0["text"]?.stringValue?.contains("JKL012 was cancelled") == true }) == true else { return nil }
                return c
            }
            #expect(answered["turn_count"] == 1)

            // The same partition keeps flowing after the poison record.
            let after = try await p.post("conv-dlq", #"{"customer_id":"cus_1003","text":"And where is my order HIJ678?"}"#)
            #expect(after.status == 200)
            #expect(after.json["reply"]?["text"]?.stringValue?.contains("HIJ678") == true, "\(after.json)")

            // A well-formed envelope whose payload breaks its published schema: an approval with
            // a field the contract lacks. The executor's typed decode would ignore the field and
            // run the step; the contract check parks it before any handler acts.
            let honest = try EventEnvelope.start(MessageReceived(customerID: "cus_1003", text: "x"), conversationID: "conv-dlq", tenantID: "default", producer: Platform.forger)
                .reaction(StepApproved(planID: UUID(), stepID: UUID(), tool: "create_refund", args: ["order_id": "HIJ678", "amount": 5], riskTier: .lowRiskWrite, customerID: "cus_1003"), producer: Platform.forger)
            guard case .object(var payload) = honest.payload else { Issue.record("payload is an object"); return }
            payload["approved_by"] = "root"
            var forged = honest
            forged.payload = .object(payload)
            let forger = try KafkaProducer(config: config, logger: Logger(label: "e2e.forged"))
            try await EventPublisher(producer: forger, topic: Topics.conversations).publish(forged)
            await forger.close()
            let deadAgain = try LogReader(bootstrap: config.bootstrapServers, topic: Topics.deadLetter)
            let parked = try await p.eventually("the executor parks the forged approval") { () -> KafkaRecord? in
                deadAgain.allRecords.first { $0.header(DeadLetterHeaders.consumerGroup) == "switchboard.executor" && $0.value == EventCodec.encode(forged) }
            }
            await deadAgain.stop()
            #expect(parked.header(DeadLetterHeaders.error)?.contains("does not match docs/events/StepApproved.v1.json") == true, "\(parked.header(DeadLetterHeaders.error) ?? "")")
            let stepID = try forged.decode(StepApproved.self).stepID
            let acted = p.log.allRecords.compactMap { try? EventCodec.decode($0.value) }.filter {
                ($0.type == ToolCallStarted.eventType || $0.type == ToolSucceeded.eventType || $0.type == ToolFailed.eventType) && $0.payload["step_id"]?.stringValue == stepID.lowercaseString
            }
            #expect(acted.isEmpty, "no tool ran for the forged approval")
        }
    }

    @Test func redeliveredStepReturnsTheRecordedResultInsteadOfRunningAgain() async throws {
        try await Platform.with("exactlyonce") { p in
            let reply = try await p.post("conv-once", #"{"customer_id":"cus_1002","text":"Where is my order GHI789?"}"#)
            #expect(reply.status == 200)
            let events = try await p.log.waitForEvents(conversation: "conv-once", count: foundOrderSequence.count)
            let approved = try #require(events.first { $0.type == "StepApproved" })
            let original = try #require(events.first { $0.type == "ToolSucceeded" })
            let stepID = try approved.decode(StepApproved.self).stepID

            // Deliver the same approval again, as a redelivery after a crash would.
            var config = KafkaConfig(bootstrapServers: p.stack.environment["SWITCHBOARD_BOOTSTRAP"]!, clientID: "e2e-redeliver")
            config.fetchWaitMaxMs = 5
            let producer = try KafkaProducer(config: config, logger: Logger(label: "e2e.redeliver"))
            let publisher = EventPublisher(producer: producer, topic: Topics.conversations)
            try await publisher.publish(approved)
            await producer.close()

            let results = try await p.eventually("re-sent result") { () -> [KafkaRecord]? in
                let matches = p.log.allRecords.filter { $0.header(EventHeaders.type) == "ToolSucceeded" && ((try? EventCodec.decode($0.value))?.conversationID == "conv-once") }
                return matches.count >= 2 ? matches : nil
            }
            let decoded = try results.map { try EventCodec.decode($0.value) }
            #expect(Set(decoded.map(\.id)) == [original.id], "the re-sent result is the recorded event")
            #expect(results[0].value == results[1].value, "byte for byte")
            let rows = try await p.pool.query("SELECT count(*) AS n FROM executor.tool_executions WHERE step_id = \(stepID)")
            #expect(try rows.first(where: { _ in true })?.decode("n", as: Int.self) == 1)
            // The executions read model shows one call, succeeded, whatever was redelivered.
            let projected = try await p.eventually("tool execution projected") { () -> PostgresRows? in
                let rows = try await p.pool.query("SELECT status, tool, duration_ms FROM executions.tool_executions WHERE step_id = \(stepID)")
                guard rows.count == 1, try rows[0].decode("status", as: String.self) == "succeeded" else { return nil }
                return rows
            }
            #expect(try projected[0].decode("tool", as: String.self) == "get_order_status")
            #expect(try projected[0].decode("duration_ms", as: Int?.self) != nil)
        }
    }

    @Test func invalidStepIsRejectedBackToThePlannerWhichHandsOver() async throws {
        try await Platform.with("rejected") { p in
            // A plan no rules-brain turn would make: arguments that break the tool's input schema.
            let message = try EventEnvelope.start(MessageReceived(customerID: "c1", text: "(injected)"), conversationID: "conv-reject", tenantID: "default", producer: "e2e@test")
            let plan = try message.reaction(PlanProposed(planID: UUID(), intent: "order_status", steps: [
                PlanStep(stepID: UUID(), tool: "get_order_status", args: ["order_id": "nope", "admin": true], why: "test"),
            ]), producer: "e2e@test")
            var config = KafkaConfig(bootstrapServers: p.stack.environment["SWITCHBOARD_BOOTSTRAP"]!, clientID: "e2e-plan")
            config.fetchWaitMaxMs = 5
            let producer = try KafkaProducer(config: config, logger: Logger(label: "e2e.plan"))
            try await EventPublisher(producer: producer, topic: Topics.conversations).publish(plan)
            await producer.close()

            let events = try await p.log.waitForEvents(conversation: "conv-reject", count: 7)
            #expect(Array(events.map(\.type).prefix(4)) == ["PlanProposed", "StepRejected", "ReplyDrafted", "HandoverRequested"])
            #expect(Set(events.map(\.type).suffix(3)) == ["ReplyApproved", "ReplyDelivered", "HandoverQueued"])
            let rejected = try events[1].decode(StepRejected.self)
            #expect(rejected.reason == .invalidArgs)
            #expect(rejected.issues.contains { $0.path == "/args/order_id" }, "\(rejected.issues)")
            #expect(rejected.issues.count >= 2, "the pattern and the unknown property: \(rejected.issues)")
            #expect(!events.contains { $0.type == "StepApproved" || $0.type == "ToolCallStarted" }, "nothing ran")
            let draft = try events[2].decode(ReplyDrafted.self)
            #expect(draft.kind == .fallback)
            #expect(try events[3].decode(HandoverRequested.self).reason == .stepRejected)
            for event in events { #expect(PublishedSchemas.validate(event).isEmpty, "\(event.type)") }
        }
    }
}
