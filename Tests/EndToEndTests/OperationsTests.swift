import DevStack
import Events
import Foundation
import Logging
import Kafka
import EventBus
import HTTPClient
import JSON
import Testing
import LogTopics

@Suite(.serialized, .timeLimit(.minutes(3)))
struct OperationsTests {
    @Test func everyServiceServesHealthReadyMetricsAndStopsGracefullyOnSIGTERM() async throws {
        try await Platform.with("ops") { p in
            let turn = try await p.post("conv-ops", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#)
            #expect(turn.status == 200)
            for service in DevStack.services {
                let health = try await p.get("/health", service: service)
                #expect(health.status == 200 && health.json["status"] == "ok", "\(service) /health")
                // The librdkafka the process loaded (broker compatibility depends on it).
                let librdkafka = health.json["librdkafka"]?.stringValue ?? ""
                #expect(librdkafka.wholeMatch(of: /[0-9]+\.[0-9]+\.[0-9]+.*/) != nil, "\(service) /health names its librdkafka: \(health.json)")
                let ready = try await p.get("/ready", service: service)
                #expect(ready.status == 200 && ready.json["status"] == "ready" && ready.json["librdkafka"] == .string(librdkafka), "\(service) /ready: \(ready.json)")
                let metrics = try await p.http.execute(.init(url: p.stack.url(of: service) + "/metrics"))
                let text = String(decoding: metrics.body, as: UTF8.self)
                #expect(metrics.status == 200)
                #expect(metrics.header("content-type")?.hasPrefix("text/plain") == true)
                #expect(text.contains("switchboard_events_handled_total"), "\(service) counts handled events")
                #expect(text.contains("switchboard_build_info{") && text.contains("librdkafka=\"\(librdkafka)\""), "\(service) exports its librdkafka version")
                // RED metrics of the requests this loop just made, by route pattern.
                #expect(text.contains(#"switchboard_http_requests_total{route="/health",method="GET",status="200"}"#) || text.contains("switchboard_http_requests_total{") && text.contains(#"route="/health""#), "\(service) counts its requests")
                #expect(text.contains("switchboard_http_request_duration_seconds_bucket{"), "\(service) times its requests")
                // Buckets reach 5 minutes (model calls, long polls): above the library's 10 s.
                #expect(text.contains(#"le="300.0""#) || text.contains(#"le="300""#), "\(service)'s histograms reach 300 s")
            }
            // What the turn made the services measure.
            func metrics(_ service: String) async throws -> String {
                String(decoding: try await p.http.execute(.init(url: p.stack.url(of: service) + "/metrics")).body, as: UTF8.self)
            }
            let gatewayMetrics = try await metrics("gateway")
            #expect(gatewayMetrics.contains("switchboard_http_requests_total{") && gatewayMetrics.contains(#"route="/v1/conversations/{id}/messages""#) && gatewayMetrics.contains(#"method="POST""#), "the message endpoint by its pattern, not the id")
            #expect(!gatewayMetrics.contains("conv-ops"), "no conversation id in a label")
            let executor = try await metrics("executor")
            #expect(executor.contains(#"switchboard_tool_calls_total{tool="get_order_status",outcome="succeeded""#), "tool calls by tool and outcome")
            #expect(executor.contains(#"switchboard_tool_call_seconds_bucket{tool="get_order_status""#))
            _ = try await p.eventually("consumer lag measured") { () -> Bool? in
                let planner = try await metrics("planner")
                return planner.contains(#"switchboard_consumer_lag_events{group="switchboard.planner",partition="0"}"#) ? true : nil
            }
            #expect(try await metrics("planner").contains("switchboard_projection_delay_seconds_bucket{group=\"switchboard.planner\""), "projection delay, log append to rows committed")
            // A client retry with the same Idempotency-Key is the same turn, with the same reply.
            let key: HTTPHeaders = ["content-type": "application/json", "Idempotency-Key": "order-q-42"]
            let first = try await p.post("conv-idem", #"{"customer_id":"cus_1002","text":"Where is my order GHI789?"}"#, headers: key)
            let retry = try await p.post("conv-idem", #"{"customer_id":"cus_1002","text":"Where is my order GHI789?"}"#, headers: key)
            #expect(first.status == 200 && retry.status == 200, "\(retry.json)")
            #expect(first.json["turn_id"] != nil && first.json["turn_id"] == retry.json["turn_id"])
            #expect(first.json["reply"]?["text"] == retry.json["reply"]?["text"])
            let conversation = try await p.eventually("projected idempotent turn") { () -> JSONValue? in
                let c = try await p.get("/v1/conversations/conv-idem").json
                guard c["messages"]?.arrayValue?.count == 2 else { return nil }
                return c
            }
            #expect(conversation["turn_count"] == 1, "the retry did not start a second turn")
            #expect(p.log.events(conversation: "conv-idem").filter { $0.type == "ReplyDelivered" }.count == 1)

            // The analyst's export, run as the real CLI against this platform's broker.
            let exported = try runCLI(p, ["events", "export", "--conversation", "conv-ops", "--type", "MessageReceived", "--type", "ReplyDelivered"])
            #expect(exported.status == 0, "\(exported.stderr)")
            let lines = exported.stdout.split(separator: "\n")
            #expect(try lines.map { try EventCodec.decode(Array($0.utf8)).type } == ["MessageReceived", "ReplyDelivered"])
            #expect(exported.stderr.contains("exported 2 events"))
            let csv = try runCLI(p, ["events", "export", "--conversation", "conv-ops", "--format", "csv"])
            #expect(csv.stdout.components(separatedBy: "\r\n").filter { !$0.isEmpty }.count == 1 + foundOrderSequence.count)
            let file = p.stack.options.runDirectory + "/conv-ops.jsonl"
            try exported.stdout.write(toFile: file, atomically: true, encoding: .utf8)
            let dryRun = try runCLI(p, ["events", "import", "--dry-run", "--input", file])
            #expect(dryRun.status == 0 && dryRun.stderr.contains("validated 2 events"), "\(dryRun.stderr)")
            let badTime = try runCLI(p, ["events", "export", "--from", "yesterday"])
            #expect(badTime.status != 0 && badTime.stderr.contains("--from must be"), "\(badTime.stderr)")

            // The cost summary equals the sum of the LLMCallCompleted costs on the log.
            var kafka = KafkaConfig(bootstrapServers: p.stack.environment["SWITCHBOARD_BOOTSTRAP"]!, clientID: "e2e-llm")
            kafka.fetchWaitMaxMs = 5
            let producer = try KafkaProducer(config: kafka, logger: Logger(label: "e2e.llm"))
            let publisher = EventPublisher(producer: producer, topic: Topics.conversations)
            var calls: [LLMCallCompleted] = []
            for index in 0..<24 {
                let message = try EventEnvelope.start(MessageReceived(customerID: "c", text: "t"), conversationID: "conv-cost-\(index % 3)", tenantID: "default", producer: "e2e@test")
                let call = LLMCallCompleted(
                    provider: "openai-compatible", model: ["small", "large", "medium"][index % 3], purpose: "decision",
                    tokensIn: 100 + index, tokensOut: 10 + index, costMicros: Int64(1_000 * (index + 1) + 7), latencyMs: 50 + index,
                    outcome: index % 5 == 0 ? .error : .success, cached: false
                )
                calls.append(call)
                try await publisher.publish(try message.reaction(call, producer: "planner@e2e"))
            }
            await producer.close()
            let summary = try await p.eventually("cost ledger projected") { () -> JSONValue? in
                let reply = try await p.get("/v1/costs/summary?period=day&group_by=model").json
                guard reply["total"]?["calls"] == .number(Double(calls.count)) else { return nil }
                return reply
            }
            let totalCost = calls.map(\.costMicros).reduce(0, +)
            #expect(summary["total"]?["cost_micros"] == .number(Double(totalCost)))
            #expect(summary["total"]?["tokens_in"] == .number(Double(calls.map(\.tokensIn).reduce(0, +))))
            #expect(summary["total"]?["success_rate"] == .number((Double(calls.filter { $0.outcome == .success }.count) / 24 * 1000).rounded() / 1000))
            let breakdown = summary["breakdown"]?.arrayValue ?? []
            #expect(Set(breakdown.compactMap { $0["key"]?.stringValue }) == ["small", "large", "medium"])
            for row in breakdown {
                let model = row["key"]?.stringValue ?? ""
                #expect(row["cost_micros"] == .number(Double(calls.filter { $0.model == model }.map(\.costMicros).reduce(0, +))), "\(model)")
            }
            let byConversation = try await p.get("/v1/costs/summary?period=month&group_by=conversation").json
            #expect(byConversation["breakdown"]?.arrayValue?.count == 3)
            let lastYear = try await p.get("/v1/costs/summary?period=day&at=2025-01-01T00:00:00Z").json
            #expect(lastYear["total"]?["calls"] == 0)
            #expect(try await p.get("/v1/costs/summary?period=week").status == 400)

            let unknownRoute = try await p.get("/v2/nothing-here")
            #expect(unknownRoute.status == 404 && unknownRoute.contentType == "application/problem+json")

            // A request held open for a reply that cannot come (planner gone) is answered 202
            // when the gateway shuts down, instead of holding the shutdown for 30 s.
            await p.stack.process("planner")?.killHard()
            let held = Task { try await p.post("conv-held", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#, wait: 30) }
            _ = try await p.log.waitForEvents(conversation: "conv-held", count: 1)
            let gateway = try #require(p.stack.process("gateway"))
            let gatewayStatus = await gateway.stop(grace: .seconds(15))
            #expect(gatewayStatus == 0, "gateway exited with \(gatewayStatus) on SIGTERM:\n\(gateway.logTail(lines: 10))")
            let heldReply = try await held.value
            #expect(heldReply.status == 202 && heldReply.json["status"] == "accepted", "\(heldReply.status) \(heldReply.json)")

            // SIGTERM: stop accepting, finish in flight, leave the group, flush, exit 0.
            for service in DevStack.services where service != "planner" && service != "gateway" {
                let process = try #require(p.stack.process(service))
                let status = await process.stop(grace: .seconds(15))
                #expect(status == 0, "\(service) exited with \(status) on SIGTERM:\n\(process.logTail(lines: 10))")
            }
        }
    }
}

/// Runs the `switchboard` CLI with the platform's env file variables, as an analyst would.
func runCLI(_ p: Platform, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    try runProgram(p.stack.options.binDirectory + "/switchboard", arguments, environment: p.stack.environment)
}

/// Runs a program to its end; nil `environment` inherits this process's.
func runProgram(_ path: String, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = environment }
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}
