import DevStack
import Foundation
import HTTPClient
import JSON
import Testing

@Suite(.serialized, .timeLimit(.minutes(3)))
struct OperationsTests {
    @Test func everyServiceServesHealthReadyMetricsAndStopsGracefullyOnSIGTERM() async throws {
        try await Platform.with("ops") { p in
            let turn = try await p.post("conv-ops", #"{"customer_id":"c1","text":"Where is my order ABC123?"}"#)
            #expect(turn.status == 200)
            for service in DevStack.services {
                let health = try await p.get("/health", service: service)
                #expect(health.status == 200 && health.json["status"] == "ok", "\(service) /health")
                let ready = try await p.get("/ready", service: service)
                #expect(ready.status == 200 && ready.json["status"] == "ready", "\(service) /ready: \(ready.json)")
                let metrics = try await p.http.execute(.init(url: p.stack.url(of: service) + "/metrics"))
                let text = String(decoding: metrics.body, as: UTF8.self)
                #expect(metrics.status == 200)
                #expect(metrics.header("content-type")?.hasPrefix("text/plain") == true)
                #expect(text.contains("switchboard_events_handled_total"), "\(service) counts handled events")
            }
            // A client retry with the same Idempotency-Key is the same turn, with the same reply.
            let key: HTTPHeaders = ["content-type": "application/json", "Idempotency-Key": "order-q-42"]
            let first = try await p.post("conv-idem", #"{"customer_id":"c1","text":"Where is my order GHI789?"}"#, headers: key)
            let retry = try await p.post("conv-idem", #"{"customer_id":"c1","text":"Where is my order GHI789?"}"#, headers: key)
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

            let unknownRoute = try await p.get("/v2/nothing-here")
            #expect(unknownRoute.status == 404 && unknownRoute.contentType == "application/problem+json")

            // A request held open for a reply that cannot come (planner gone) is answered 202
            // when the gateway shuts down, instead of holding the shutdown for 30 s.
            await p.stack.process("planner")?.killHard()
            let held = Task { try await p.post("conv-held", #"{"customer_id":"c1","text":"Where is my order ABC123?"}"#, wait: 30) }
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
