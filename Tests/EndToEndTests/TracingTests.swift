import Events
import Foundation
import HTTPClient
import JSON
import LLMFixture
import Testing

/// Issue 13, watch it: with an OTLP endpoint configured, a turn is one trace across the
/// services that take part in it, continuing the caller's `traceparent`: the HTTP request, each
/// Kafka hop (a producer span per published event, a consumer span per handling), the model call
/// and its HTTP request, the tool call and the Postgres statements, every span's parent in the
/// trace. A real OTLP/HTTP exporter (swift-otel) sends them to a receiver on 127.0.0.1.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct TracingTests {
    @Test func aTurnIsOneConnectedTraceAcrossTheServicesAndTheModelSeesItsContext() async throws {
        try await OTLPCollector.with { collector in
            try await withLLMFixtureServer { fixture in
                let environment = [
                    "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
                    "OTEL_BSP_SCHEDULE_DELAY": "200",
                    "SWITCHBOARD_LLM_BASE_URL": fixture.openAIBaseURL, "SWITCHBOARD_LLM_MODEL": "fixture-model",
                ]
                try await Platform.with("tracing", environment: environment) { p in
                    // A tool turn: gateway, planner (the model), verifier, executor.
                    fixture.enqueue(.ok(content: BrainTests.decision), for: .openAIChatCompletions)
                    let trace = Self.randomHex(16)
                    let callerSpan = Self.randomHex(8)
                    let headers: HTTPHeaders = ["content-type": "application/json", "traceparent": "00-\(trace)-\(callerSpan)-01"]
                    let found = try await p.post("conv-traced", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#, wait: 30, headers: headers)
                    #expect(found.status == 200, "\(found.json)")
                    let spans = try await Self.settledTrace(trace, in: collector, services: ["gateway", "planner", "verifier", "executor"], p)
                    Self.expectConnected(spans, root: callerSpan)
                    let names = Set(spans.map(\.name))
                    #expect(names.contains("publish MessageReceived") && names.contains("publish PlanProposed") && names.contains("publish ToolSucceeded"), "\(names.sorted())")
                    #expect(spans.contains { $0.kind == 2 && $0.service == "switchboard-gateway" }, "the gateway's request span")
                    #expect(spans.contains { $0.kind == 5 && $0.service == "switchboard-planner" && $0.name.hasSuffix(" MessageReceived") }, "the planner handles the message in a consumer span")
                    #expect(spans.contains { $0.kind == 5 && $0.service == "switchboard-executor" && $0.name.hasSuffix(" StepApproved") }, "\(names.sorted())")
                    #expect(spans.contains { $0.name.hasPrefix("tool ") && $0.service == "switchboard-executor" }, "the tool call")
                    #expect(spans.contains { $0.name.hasPrefix("postgres") && $0.attributes["db.system.name"] == "postgresql" }, "Postgres statements")
                    let byID = Dictionary(spans.map { ($0.spanID, $0) }, uniquingKeysWith: { a, _ in a })
                    let llm = try #require(spans.first { $0.name == "llm decision" }, "\(names.sorted())")
                    #expect(llm.attributes["gen_ai.request.model"] == "env-model" && llm.attributes["switchboard.llm.outcome"] == "success", "\(llm.attributes)")
                    #expect(spans.contains { $0.name == "HTTP POST" && byID[$0.parentSpanID]?.name == "llm decision" }, "the provider call is the model span's child")
                    // The model's HTTP request carried the turn's trace to the provider.
                    let sent = fixture.requests(for: .openAIChatCompletions).last?.header("traceparent") ?? ""
                    #expect(TraceContext(parsing: sent)?.traceID == trace, "traceparent sent to the model: \(sent)")
                    // And every event of the turn on the log carries it, for `switchboard trace`.
                    let events = try await p.log.waitForEvents(conversation: "conv-traced", count: 10)
                    #expect(events.allSatisfy { TraceContext(parsing: $0.traceparent)?.traceID == trace }, "\(events.map(\.traceparent))")
                    let waterfall = try runCLI(p, ["trace", "conv-traced"])
                    #expect(waterfall.status == 0 && waterfall.stdout.contains("ToolSucceeded"), "\(waterfall.stdout)\n\(waterfall.stderr)")

                    // A handover: the fifth service, HILQueue, continues the same way.
                    let handoverTrace = Self.randomHex(16)
                    let handoverCaller = Self.randomHex(8)
                    fixture.setDefaultReply(.status(503), for: .openAIChatCompletions)
                    let human = try await p.post("conv-traced-human", #"{"customer_id":"cus_1002","text":"I want to talk to a person"}"#, wait: 30,
                                                 headers: ["content-type": "application/json", "traceparent": "00-\(handoverTrace)-\(handoverCaller)-01"])
                    #expect(human.status == 200)
                    let handover = try await Self.settledTrace(handoverTrace, in: collector, services: ["gateway", "planner", "hilqueue"], p)
                    Self.expectConnected(handover, root: handoverCaller)
                    #expect(handover.contains { $0.service == "switchboard-hilqueue" && $0.kind == 5 && $0.name.hasSuffix(" HandoverRequested") }, "\(handover.map(\.name).sorted())")
                }
            }
        }
    }

    /// The spans of `trace`, once every one of `services` has sent some and no new span has
    /// arrived for a second (the exporters batch every 200 ms).
    static func settledTrace(_ trace: String, in collector: OTLPCollector, services: [String], _ p: Platform) async throws -> [OTLPCollector.CollectedSpan] {
        var last = -1
        return try await p.eventually("spans of trace \(trace) from \(services)", timeout: .seconds(30)) { () -> [OTLPCollector.CollectedSpan]? in
            let spans = collector.spans.filter { $0.traceID == trace }
            let seen = Set(spans.map(\.service))
            defer { last = spans.count }
            guard services.allSatisfy({ seen.contains("switchboard-\($0)") }), spans.count == last else {
                try await Task.sleep(for: .seconds(1))
                return nil
            }
            return spans
        }
    }

    /// One tree: every span's parent is in the trace, but the roots, whose parent is the caller's span.
    static func expectConnected(_ spans: [OTLPCollector.CollectedSpan], root: String) {
        let ids = Set(spans.map(\.spanID))
        let orphans = spans.filter { !ids.contains($0.parentSpanID) && $0.parentSpanID != root }
        #expect(orphans.isEmpty, "spans whose parent is not in the trace: \(orphans.map { "\($0.service) \($0.name) ← \($0.parentSpanID)" })")
        #expect(spans.filter { $0.parentSpanID == root }.count == 1, "one span continues the caller's: \(spans.filter { $0.parentSpanID == root }.map(\.name))")
    }

    static func randomHex(_ bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
