import DevStack
import Events
import Foundation
import Glibc
import HTTPClient
import JSON
import Postgres
import LLMFixture
import Logging
import Synchronization
import Testing
import UpstreamFixture

/// Shared state of the traffic's client tasks.
final class Tally<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
}

/// Issue 13, break it: each of the five services killed with SIGKILL, one at a time, at random
/// moments while 200 turns (reads, and refunds that move money) go through; each restarted with
/// only its environment. Afterwards: every accepted message got a reply or an explicit handover,
/// no refund happened twice, and the read models equal a rebuild from the log.
@Suite(.serialized, .timeLimit(.minutes(8)))
struct FaultInjectionTests {
    struct Accepted: Sendable {
        var conversation: String
        var turnID: UUID
        var refund: Bool
    }

    @Test func killingEachServiceDuringTrafficLosesAndRepeatsNothing() async throws {
        try await Platform.with("faults_kill") { p in
            // Warm: every group joined, every path used once.
            #expect(try await p.post("warm", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#).status == 200)

            let turns = 200
            let refunds = Set(stride(from: 0, to: turns, by: 5))  // every fifth turn: a $1 refund of DEF456
            let accepted = Tally<[Accepted]>([])
            let next = Tally(0)
            // Eight customers' clients, about eight turns a second between them, for ~25 s.
            let traffic = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            while true {
                                let index = next.withLock { value -> Int in defer { value += 1 }; return value }
                                guard index < turns else { return }
                                let refund = refunds.contains(index)
                                let conversation = "fault-\(index)"
                                let body = refund
                                    ? #"{"customer_id":"cus_1001","text":"I want a refund of $1 for order DEF456"}"#
                                    : #"{"customer_id":"cus_1002","text":"Where is my order GHI789?"}"#
                                // A client retries with its Idempotency-Key while the gateway is down.
                                let headers: HTTPHeaders = ["content-type": "application/json", "Idempotency-Key": "fault-\(index)"]
                                let deadline = ContinuousClock.now + .seconds(90)
                                while true {
                                    if let reply = try? await p.post(conversation, body, wait: nil, headers: headers), reply.status == 202 || reply.status == 200,
                                       let turn = reply.json["turn_id"]?.stringValue.flatMap(UUID.init(uuidString:)) {
                                        accepted.withLock { $0.append(Accepted(conversation: conversation, turnID: turn, refund: refund)) }
                                        break
                                    }
                                    guard ContinuousClock.now < deadline else { Issue.record("turn \(index) never accepted"); break }
                                    try await Task.sleep(for: .milliseconds(200))
                                }
                                try await Task.sleep(for: .milliseconds(900))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }

            // Meanwhile: each service killed and restarted, in a random order, at random moments.
            var generator = SystemRandomNumberGenerator()
            for service in DevStack.services.shuffled(using: &generator) {
                try await Task.sleep(for: .milliseconds(Int.random(in: 1000...3000, using: &generator)))
                let process = try #require(p.stack.process(service))
                await process.killHard()
                #expect(!process.isRunning, "\(service) killed")
                try await Task.sleep(for: .milliseconds(500))
                try p.stack.startService(service)
                try await p.stack.waitUntilReady(service)
            }
            try await traffic.value
            let all = accepted.withLock { $0 }
            #expect(all.count == turns, "every message was accepted, after retries")

            // 1. Every accepted message got a reply or an explicit handover.
            let outcomes = try await p.eventually("every turn answered or handed over", timeout: .seconds(180)) { () -> [UUID: String]? in
                var outcome: [UUID: String] = [:]
                for record in p.log.allRecords {
                    guard let event = try? EventCodec.decode(record.value) else { continue }
                    if event.type == ReplyDelivered.eventType || event.type == HandoverRequested.eventType {
                        outcome[event.correlationID] = outcome[event.correlationID] ?? event.type
                    }
                }
                return all.allSatisfy { outcome[$0.turnID] != nil } ? outcome : nil
            }
            let handedOver = all.filter { outcomes[$0.turnID] == HandoverRequested.eventType }
            print("fault injection: \(all.count) turns, \(all.count - handedOver.count) answered, \(handedOver.count) handed over")

            // 2. No refund happened twice: one row per refund the executor reported, each step once.
            let succeeded = p.log.allRecords.compactMap { try? EventCodec.decode($0.value) }
                .filter { $0.type == ToolSucceeded.eventType }
                .compactMap { try? $0.decode(ToolSucceeded.self) }
                .filter { $0.tool == "create_refund" }
            let refundIDs = Set(succeeded.compactMap { $0.result["refund_id"]?.stringValue })
            let steps = Set(succeeded.map(\.stepID))
            let rows = try await p.pool.query("SELECT refund_id FROM commerce.refunds WHERE tenant_id = 'default' AND order_id = 'DEF456'").map { try $0.decode("refund_id", as: String.self) }
            #expect(rows.count == Set(rows).count && Set(rows) == refundIDs, "each refund the log reports exists once, and nothing else: \(rows.count) rows, \(refundIDs.count) reported")
            #expect(steps.count == refundIDs.count, "one refund per step, however often a step was delivered")
            #expect(refundIDs.count <= refunds.count && refundIDs.count >= refunds.count - handedOver.filter(\.refund).count, "\(refundIDs.count) refunds for \(refunds.count) requests")

            // 3. The read models equal a rebuild from the log.
            _ = try await p.eventually("projections caught up", timeout: .seconds(60)) { () -> Bool? in
                let verify = try runCLI(p, ["projections", "verify"])
                return verify.status == 0 ? true : nil
            }
        }
    }

    /// The broker unreachable for 10 s (its process stopped), then every Postgres connection
    /// dropped, twice, while 120 turns go through. Customers are refused clearly while
    /// the database is away (503 with Retry-After, never a 500), their client retries, and
    /// afterwards every accepted message got a reply or a handover and the read models equal a
    /// rebuild.
    @Test func theBrokerDownAndPostgresConnectionsDroppedMidTrafficLoseNothing() async throws {
        try await Platform.with("faults_infra") { p in
            #expect(try await p.post("warm", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#).status == 200)
            let traffic = Self.retryingTraffic(p, prefix: "infra", turns: 120)
            // The broker away for 10 s.
            try await Task.sleep(for: .seconds(3))
            let broker = try #require(p.stack.broker)
            kill(broker.pid, SIGSTOP)
            try await Task.sleep(for: .seconds(10))
            kill(broker.pid, SIGCONT)
            // Then every connection to Postgres dropped under the running services (what they see
            // of a database restart; the test shares one cluster with the whole run), twice.
            for _ in 0..<2 {
                try await Task.sleep(for: .seconds(2))
                let dropped = try await p.pool.query("SELECT count(pg_terminate_backend(pid))::bigint AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
                #expect(try dropped.first(where: { _ in true })?.decode("n", as: Int64.self) ?? 0 > 0, "the services' connections were dropped")
            }
            let (all, refused) = try await traffic.value
            #expect(all.count == 120, "every message accepted, after retries")
            print("infrastructure faults: refusals while retrying: \(refused)")
            #expect(!refused.keys.contains { $0.hasPrefix("5") && !$0.hasPrefix("503") }, "never a 500: \(refused)")
            try await Self.expectAnsweredAndRebuildable(p, all)
        }
    }

    /// The model hanging (no answer within its timeout) and the order system down (503), for
    /// 15 s in the middle of 150 turns whose brain is the model and whose tool is an HTTP upstream.
    /// Every message is answered or handed over; what the customers read during the outage is one
    /// of the platform's plain messages or a real answer, never an error's internals; no step's
    /// result is recorded twice; the read models equal a rebuild; and after the outage turns are
    /// answered from the upstream again.
    @Test func aHangingModelAndAToolUpstreamDownMidTrafficGetClearAnswers() async throws {
        let upstream = try Upstream.start()
        defer { upstream.stop() }
        let packPath = try SlowToolTests.packWithHTTPOrderStatus("""
            binding: http
            timeout_ms: 1000
            circuit_breaker: { failures: 3, cool_down_ms: 2000 }
            http: { method: GET, url: '\(upstream.url("/orders/{order_id}"))' }
            """)
        defer { try? FileManager.default.removeItem(atPath: packPath) }
        try await withLLMFixtureServer { fixture in
            fixture.setDefaultReply(.ok(content: BrainTests.decision), for: .openAIChatCompletions)
            let catalog = """
                breaker: { failure_threshold: 3, cool_down_ms: 2000, half_open_probes: 1 }
                models:
                  - { id: fixture, provider: openai, base_url: "\(fixture.openAIBaseURL)", model: fixture-model, price: { input_per_million_usd: 0, output_per_million_usd: 0 }, context_window: 16384, max_output_tokens: 512, capabilities: [json_schema], decision_mode: json_schema, quality: 1.0, typical_latency_ms: 300, timeout_ms: 1500 }
                """
            let catalogPath = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID()).yaml").path
            try catalog.write(toFile: catalogPath, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: catalogPath) }
            try await Platform.with("faults_upstreams", pack: packPath, environment: ["SWITCHBOARD_MODEL_CATALOG": catalogPath]) { p in
                let ingest = try runCLI(p, ["kb", "ingest", Platform.repoRoot.appendingPathComponent("deploy/knowledge/retail").path])
                #expect(ingest.status == 0, "\(ingest.stderr)")
                let warm = try await p.post("up-warm", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#, wait: 30)
                #expect(warm.json["reply"]?["text"]?.stringValue?.contains("1Z999AA10123456784") == true, "the model decides and the upstream answers: \(warm.json)")

                let turns = 150
                let accepted = Tally<[(index: Int, turn: UUID)]>([])
                let next = Tally(0)
                let traffic = Task {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<6 {
                            group.addTask {
                                while true {
                                    let index = next.withLock { value -> Int in defer { value += 1 }; return value }
                                    guard index < turns else { return }
                                    // Each text its own, so no model answer comes from the cache.
                                    let reply = try await p.post("up-\(index)", "{\"customer_id\":\"cus_1001\",\"text\":\"Where is my order ABC123? This is my message number \(index).\"}", wait: nil,
                                                                 headers: ["content-type": "application/json", "Idempotency-Key": "up-\(index)"])
                                    if let turn = reply.json["turn_id"]?.stringValue.flatMap(UUID.init(uuidString:)) {
                                        accepted.withLock { $0.append((index, turn)) }
                                    } else {
                                        Issue.record("turn \(index) refused: \(reply.status) \(reply.json)")
                                    }
                                    try await Task.sleep(for: .milliseconds(1000))
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                }
                try await Task.sleep(for: .seconds(3))
                let client = HTTPClient(logger: Logger(label: "faults-upstreams"))
                // The outage: the model hangs past its timeout, the order system answers 503.
                fixture.setDefaultReply(.delay(.seconds(60), then: .ok(content: BrainTests.decision)), for: .openAIChatCompletions)
                try await upstream.setDown(true, client)
                // Long enough for the model's breaker to open: each hanging call takes its
                // timeout three times (the provider's retries) before it counts as one failure.
                try await Task.sleep(for: .seconds(15))
                fixture.setDefaultReply(.ok(content: BrainTests.decision), for: .openAIChatCompletions)
                try await upstream.setDown(false, client)
                await client.shutdown()
                try await traffic.value

                let all = accepted.withLock { $0 }
                #expect(all.count == turns)
                // 1. Every turn ends in a reply or a handover; collect what the customer read.
                let outcomes = try await p.eventually("every turn answered or handed over", timeout: .seconds(120)) { () -> [UUID: String]? in
                    var outcome: [UUID: String] = [:]
                    for record in p.log.allRecords {
                        guard let event = try? EventCodec.decode(record.value) else { continue }
                        if event.type == ReplyDelivered.eventType, let reply = try? event.decode(ReplyDelivered.self) { outcome[event.correlationID] = reply.text }
                        if event.type == HandoverRequested.eventType, outcome[event.correlationID] == nil { outcome[event.correlationID] = "(handover)" }
                    }
                    return all.allSatisfy { outcome[$0.turn] != nil } ? outcome : nil
                }
                // 2. What customers read: a real answer or one of the plain outage messages.
                let plain = ["Our order system isn't answering right now.", "I can't reach the system I need for that right now", "I'm passing you to a member of our team"]
                var answered = 0, degraded = 0
                for (index, turn) in all.sorted(by: { $0.index < $1.index }) {
                    let text = outcomes[turn] ?? ""
                    if text.contains("1Z999AA10123456784") {
                        answered += 1
                    } else {
                        degraded += 1
                        #expect(text == "(handover)" || plain.contains { text.hasPrefix($0) }, "turn \(index) told the customer: \(text)")
                    }
                    for word in ["HTTP", "503", "timed out", "timeout", "error", "Error", "circuit", "null"] {
                        #expect(!text.contains(word), "turn \(index) shows '\(word)' to the customer: \(text)")
                    }
                }
                print("upstream faults: \(all.count) turns, \(answered) answered with the tracking number, \(degraded) with an outage message or a handover")
                print("upstream faults: what customers read: \(Dictionary(grouping: all.map { String((outcomes[$0.turn] ?? "").prefix(60)) }, by: { $0 }).mapValues(\.count))")
                print("upstream faults: events: \(Dictionary(grouping: p.log.allRecords.compactMap { try? EventCodec.decode($0.value) }.map(\.type), by: { $0 }).mapValues(\.count))")
                #expect(degraded > 0, "the outage reached some turns")
                let events = p.log.allRecords.compactMap { try? EventCodec.decode($0.value) }
                let fellBack = events.contains { $0.type == BrainFellBack.eventType && (try? $0.decode(BrainFellBack.self))?.to == "rules" }
                #expect(fellBack, "the hanging model was replaced by the rules brain")
                // After the outage (the breakers' 2 s cool-down passed), the last turns are answered.
                let lastTurns = all.sorted(by: { $0.index < $1.index }).suffix(6)
                #expect(lastTurns.allSatisfy { outcomes[$0.turn]?.contains("1Z999AA10123456784") == true }, "\(lastTurns.map { outcomes[$0.turn] ?? "" })")
                // 3. No step's result recorded twice.
                let results = events.filter { $0.type == ToolSucceeded.eventType || $0.type == ToolFailed.eventType }
                let stepIDs = results.compactMap { event -> UUID? in
                    (try? event.decode(ToolSucceeded.self))?.stepID ?? (try? event.decode(ToolFailed.self))?.stepID
                }
                #expect(Set(results.map(\.id)).count == Set(stepIDs).count, "one result per step: \(results.count) result events for \(Set(stepIDs).count) steps")
                // 4. The read models equal a rebuild.
                _ = try await p.eventually("projections caught up", timeout: .seconds(60)) { () -> Bool? in
                    try runCLI(p, ["projections", "verify"]).status == 0 ? true : nil
                }
            }
        }
    }

    /// Postgres itself stopped (a fast shutdown, as a restart or failover does) for 5 s and started
    /// again while 120 turns go through, on a cluster of this test's own (the run's cluster is
    /// shared with the other tests). Customers are refused clearly meanwhile (503, never a 500),
    /// retry, and every accepted message is answered or handed over; the read models equal a
    /// rebuild.
    @Test func aPostgresRestartMidTrafficLosesNothing() async throws {
        let cluster = try TestCluster.start()
        defer { cluster.stop() }
        try await Platform.with("faults_pg_restart", adminURL: cluster.url) { p in
            #expect(try await p.post("warm", #"{"customer_id":"cus_1001","text":"Where is my order ABC123?"}"#).status == 200)
            let traffic = Self.retryingTraffic(p, prefix: "pg", turns: 120)
            try await Task.sleep(for: .seconds(3))
            try await cluster.restart(down: .seconds(5))
            let (all, refused) = try await traffic.value
            #expect(all.count == 120, "every message accepted, after retries")
            print("postgres restart: refusals while retrying: \(refused)")
            #expect(!refused.isEmpty, "the restart was felt: some requests were refused while Postgres was down")
            #expect(!refused.keys.contains { $0.hasPrefix("5") && !$0.hasPrefix("503") }, "never a 500: \(refused)")
            try await Self.expectAnsweredAndRebuildable(p, all)
        }
    }

    /// Six clients send `turns` order questions (conversations `<prefix>-0` to `-39`), each
    /// retried with its Idempotency-Key every 250 ms, for up to two minutes, until accepted. The
    /// task returns the accepted turns and the refusals met on the way, by status and problem type.
    static func retryingTraffic(_ p: Platform, prefix: String, turns: Int) -> Task<(accepted: [UUID], refusals: [String: Int]), any Error> {
        Task {
            let accepted = Tally<[UUID]>([])
            let refusals = Tally<[String: Int]>([:])
            let next = Tally(0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        while true {
                            let index = next.withLock { value -> Int in defer { value += 1 }; return value }
                            guard index < turns else { return }
                            let headers: HTTPHeaders = ["content-type": "application/json", "Idempotency-Key": "\(prefix)-\(index)"]
                            let deadline = ContinuousClock.now + .seconds(120)
                            while ContinuousClock.now < deadline {
                                do {
                                    let reply = try await p.post("\(prefix)-\(index % 40)", #"{"customer_id":"cus_1002","text":"Where is my order GHI789?"}"#, wait: nil, headers: headers)
                                    if reply.status == 202 || reply.status == 200, let turn = reply.json["turn_id"]?.stringValue.flatMap(UUID.init(uuidString:)) {
                                        accepted.withLock { $0.append(turn) }
                                        break
                                    }
                                    let kind = reply.json["type"]?.stringValue.map { String($0.split(separator: "/").last ?? "") } ?? "?"
                                    refusals.withLock { $0["\(reply.status) \(kind)", default: 0] += 1 }
                                } catch {
                                    refusals.withLock { $0["connection", default: 0] += 1 }
                                }
                                try await Task.sleep(for: .milliseconds(250))
                            }
                            try await Task.sleep(for: .milliseconds(700))
                        }
                    }
                }
                try await group.waitForAll()
            }
            return (accepted.withLock { $0 }, refusals.withLock { $0 })
        }
    }

    /// Every accepted turn ends in a reply or a handover, and the read models equal a rebuild.
    static func expectAnsweredAndRebuildable(_ p: Platform, _ turns: [UUID]) async throws {
        _ = try await p.eventually("every turn answered or handed over", timeout: .seconds(180)) { () -> Bool? in
            var done = Set<UUID>()
            for record in p.log.allRecords {
                guard let event = try? EventCodec.decode(record.value), event.type == ReplyDelivered.eventType || event.type == HandoverRequested.eventType else { continue }
                done.insert(event.correlationID)
            }
            return turns.allSatisfy(done.contains) ? true : nil
        }
        _ = try await p.eventually("projections caught up", timeout: .seconds(60)) { () -> Bool? in
            try runCLI(p, ["projections", "verify"]).status == 0 ? true : nil
        }
    }
}


/// A Postgres cluster of one test's own (scripts/postgres.sh), which the test may stop and
/// start. The script's output goes to files, not pipes: the server it starts would otherwise
/// hold a pipe open and a reader waiting for its end would wait forever.
struct TestCluster {
    let directory: String
    let port: Int
    let url: String

    static func start() throws -> TestCluster {
        let directory = Platform.repoRoot.appendingPathComponent(".run/test/pg-\(UUID().uuidString.prefix(8).lowercased())").path
        let port = try freePort()
        let output = try run(["start", directory, String(port)])
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("DATABASE_URL=") }) else {
            throw DevStackError("postgres.sh start printed no DATABASE_URL: \(output)")
        }
        return TestCluster(directory: directory, port: port, url: String(line.dropFirst("DATABASE_URL=".count)))
    }

    /// Stops the server (fast shutdown: sessions are ended), waits `down`, starts it again.
    func restart(down: Duration) async throws {
        _ = try Self.run(["stop", directory])
        try await Task.sleep(for: down)
        _ = try Self.run(["start", directory, String(port)])
    }

    func stop() {
        _ = try? Self.run(["stop", directory])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs scripts/postgres.sh to its end with posix_spawn and waitpid: Foundation's `Process`
    /// did not notice this script's exit here (its child, the server, lives on), and waited forever.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("pg-\(UUID()).out").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let script = Platform.repoRoot.appendingPathComponent("scripts/postgres.sh").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([script] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, script, &actions, nil, argv, environ)
        guard spawned == 0 else { throw DevStackError("posix_spawn postgres.sh: \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // Exited normally with status 0 (WIFEXITED and WEXITSTATUS, which Swift does not import).
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else { throw DevStackError("postgres.sh \(arguments.joined(separator: " ")) failed (\(status)): \(text)") }
        return text
    }
}
