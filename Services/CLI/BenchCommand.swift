import ArgumentParser
import Events
import Foundation
import HTTPClient
import JSON
import Kafka
import Logging
import LogTopics

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Benchmarks against a running platform.", subcommands: [BenchTurns.self, BenchRebuild.self])
}

/// `switchboard bench turns`: complete customer turns through the running services (HTTP in,
/// every hop on the log, Postgres writes, reply out), as a client would see them, and the CPU
/// time each process of the stack spent per turn (from /proc, Linux only).
struct BenchTurns: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "turns", abstract: "Order-status turns over HTTP with ?wait; prints latency percentiles, turns/s and CPU ms per turn per process.")

    @Option(help: "Gateway base URL (env GATEWAY_URL).")
    var gateway: String?
    @Option(help: "Bearer token (env SWITCHBOARD_TOKEN; `make up` writes one to .run/env).")
    var token: String?
    @Option(help: "Turns to run.")
    var count: Int = 500
    @Option(help: "Turns in flight at once (one conversation each).")
    var concurrency: Int = 8
    @Option(help: "Warm-up turns, not counted.")
    var warmup: Int = 50
    @Option(name: .customLong("idle-seconds"), help: "Before the turns, measure the stack's CPU with no load for this long (0: skip).")
    var idleSeconds: Double = 0
    @Option(help: "Before warm-up, run unmeasured turns until the log holds at least this many events, then wait until the stack is quiet (0: skip).")
    var history: Int = 0
    @Option(name: .customLong("history-concurrency"), help: "Turns in flight while filling --history.")
    var historyConcurrency: Int = 32
    @Option(help: "Kafka bootstrap servers, for the log's size with --history (env SWITCHBOARD_BOOTSTRAP).")
    var bootstrap: String?
    @Option(name: .customLong("database-url"), help: "Postgres URL; its port picks the cluster whose CPU is counted (env DATABASE_URL).")
    var databaseURL: String?

    func run() async throws {
        let gateway = try CLIEnvironment.gatewayURL(gateway)
        let token = try CLIEnvironment.token(token)
        guard count > 0, (1...256).contains(concurrency), warmup >= 0 else { throw ValidationError("count > 0, concurrency 1...256, warmup >= 0") }
        guard idleSeconds >= 0, history >= 0, (1...256).contains(historyConcurrency) else { throw ValidationError("idle-seconds >= 0, history >= 0, history-concurrency 1...256") }
        let bootstrap = CLIEnvironment.optionalBootstrap(bootstrap)
        if history > 0, bootstrap == nil { throw ValidationError("--history reads the log's size: set SWITCHBOARD_BOOTSTRAP (source .run/env) or --bootstrap") }

        let processes = StackProcesses.discover(gatewayURL: gateway, databaseURL: CLIEnvironment.optionalDatabaseURL(databaseURL))
        print("cpu_processes \(processes.summary) postgres_scope=\(processes.postgresScope.replacingOccurrences(of: " ", with: "_"))")
        if processes.groups.values.allSatisfy({ $0.isEmpty }) { print("note: no stack processes found in /proc; CPU figures will be 0") }

        let client = HTTPClient(maxConcurrentRequests: max(concurrency, history > 0 ? historyConcurrency : 1), userAgent: "switchboard-bench", logger: Logger(label: "bench"))
        let run = UUID().uuidString.prefix(8).lowercased()
        // Each demo order asked about by its owner (tools see only the customer's own orders).
        let orders = [("ABC123", "cus_1001"), ("DEF456", "cus_1001"), ("GHI789", "cus_1002"), ("JKL012", "cus_1003"), ("ZZZ999", "cus_1001")]

        /// A turn's time, and whether it was replied to. A turn held past `wait` is answered 202
        /// and counted as failed rather than ending the run: a stuck turn is a finding, and
        /// its time (a lower bound) stays in the percentiles.
        @Sendable func turn(_ index: Int, prefix: String) async throws -> (Duration, replied: Bool) {
            let (order, customer) = orders[index % orders.count]
            let body = #"{"customer_id":"\#(customer)","text":"Where is my order \#(order)?"}"#
            let request = HTTPRequest(
                method: "POST", url: "\(gateway)/v1/conversations/bench-\(run)-\(prefix)\(index)/messages?wait=30",
                headers: ["content-type": "application/json", "authorization": "Bearer \(token)"], body: Array(body.utf8), timeout: .seconds(40)
            )
            let started = ContinuousClock.now
            let response = try await client.execute(request)
            let elapsed = ContinuousClock.now - started
            let conversation = "bench-\(run)-\(prefix)\(index)"
            if response.status == 202 {
                FileHandle.standardError.write(Data("no reply within 30 s: conversation \(conversation)\n".utf8))
                return (elapsed, false)
            }
            guard response.status == 200, (try? JSONValue.parse(response.body))?["status"] == "replied" else {
                throw ValidationError("turn \(index) (conversation \(conversation)) got HTTP \(response.status) without a reply")
            }
            return (elapsed, true)
        }

        func runAll(_ range: Range<Int>, concurrency: Int, prefix: String = "") async throws -> (latencies: [Duration], failed: Int) {
            try await withThrowingTaskGroup(of: (Duration, replied: Bool).self) { group in
                var next = range.lowerBound
                var latencies: [Duration] = []
                var failed = 0
                for _ in 0..<min(concurrency, range.count) {
                    let index = next
                    group.addTask { try await turn(index, prefix: prefix) }
                    next += 1
                }
                while let (latency, replied) = try await group.next() {
                    latencies.append(latency)
                    if !replied { failed += 1 }
                    if next < range.upperBound {
                        let index = next
                        group.addTask { try await turn(index, prefix: prefix) }
                        next += 1
                    }
                }
                return (latencies, failed)
            }
        }

        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        func format(_ value: Double) -> String { String(format: "%.1f", value) }

        if history > 0, let bootstrap {
            let log = try LogSize(bootstrap: bootstrap)
            // What the services and Postgres use with the stack idle: "quiet" is being back near it.
            let before = processes.sample()
            try await Task.sleep(for: .seconds(2))
            let baseline = Self.percentOfOneCore(CPUSample.delta(from: before, to: processes.sample())["services_postgres"] ?? 0, over: 2)
            var events = try await log.events()
            var turns = 0
            var failed = 0
            while events < Int64(history) {
                // About ten events per turn; the log's own count decides when to stop.
                let batch = max(historyConcurrency, min(2_000, Int(Int64(history) - events) / 10 + 1))
                failed += try await runAll(turns..<(turns + batch), concurrency: historyConcurrency, prefix: "h").failed
                turns += batch
                events = try await log.events()
            }
            // Projections (fetching every 50 ms, one transaction per event) can trail the
            // replies by many seconds after a burst; measuring then would bill their backlog
            // to the measured turns. Quiet: no new events and services + Postgres back near
            // their idle use, for one second. The broker is left out on purpose: its idle cost
            // grows with the log's history (docs/BENCHMARKS.md).
            let waitStarted = ContinuousClock.now
            var quiet = false
            var last = processes.sample()
            while !quiet, ContinuousClock.now - waitStarted < .seconds(600) {
                try await Task.sleep(for: .seconds(1))
                let now = processes.sample()
                let percent = Self.percentOfOneCore(CPUSample.delta(from: last, to: now)["services_postgres"] ?? 0, over: seconds(now.at - last.at))
                let eventsNow = try await log.events()
                quiet = eventsNow == events && percent <= max(baseline * 1.5, baseline + 10)
                events = eventsNow
                last = now
            }
            await log.close()
            print("history_events=\(events) history_turns=\(turns) quiet_wait_s=\(format(seconds(ContinuousClock.now - waitStarted)))\(quiet ? "" : " not_quiet=1")\(failed > 0 ? " history_failed=\(failed)" : "")")
        }

        if idleSeconds > 0 {
            let start = processes.sample()
            try await Task.sleep(for: .milliseconds(Int(idleSeconds * 1000)))
            let end = processes.sample()
            let delta = CPUSample.delta(from: start, to: end)
            let wall = seconds(end.at - start.at)
            let fields = ["total", "services", "broker", "postgres"] + StackProcesses.serviceNames
            print("idle_cpu_percent_of_one_core " + fields.map { "\($0)=\(format(Self.percentOfOneCore(delta[$0] ?? 0, over: wall)))" }.joined(separator: " "))
        }

        let warmupFailed = try await runAll(0..<warmup, concurrency: concurrency).failed
        let cpuStart = processes.sample()
        let started = ContinuousClock.now
        let (unsorted, failed) = try await runAll(warmup..<(warmup + count), concurrency: concurrency)
        let latencies = unsorted.sorted()
        let wall = ContinuousClock.now - started
        let cpu = CPUSample.delta(from: cpuStart, to: processes.sample())
        await client.shutdown()

        func ms(_ d: Duration) -> String { String(format: "%.1f", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000) }
        func percentile(_ p: Double) -> Duration { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        let wallSeconds = seconds(wall)
        print("turns=\(count) concurrency=\(concurrency) wall_s=\(String(format: "%.2f", wallSeconds)) turns_per_s=\(String(format: "%.1f", Double(count) / wallSeconds))\(failed + warmupFailed > 0 ? " failed=\(failed) warmup_failed=\(warmupFailed)" : "")")
        print("latency_ms p50=\(ms(percentile(0.50))) p90=\(ms(percentile(0.90))) p99=\(ms(percentile(0.99))) max=\(ms(latencies.last!))")
        let fields = StackProcesses.serviceNames + ["services", "postgres", "services_postgres", "broker", "total"]
        print("cpu_ms_per_turn " + fields.map { "\($0)=\(format((cpu[$0] ?? 0) * 1000 / Double(count)))" }.joined(separator: " "))
        if failed + warmupFailed > 0 { throw ExitCode(1) }
    }

    static func percentOfOneCore(_ cpuSeconds: Double, over wallSeconds: Double) -> Double {
        wallSeconds > 0 ? cpuSeconds / wallSeconds * 100 : 0
    }
}

/// The conversation log's size: the sum of its partitions' high watermarks (every event ever
/// appended, including any the dev broker has since dropped from the front).
struct LogSize {
    let admin: KafkaAdmin

    init(bootstrap: String) throws {
        admin = try KafkaAdmin(config: KafkaConfig(bootstrapServers: bootstrap, clientID: "switchboard-bench"), logger: quietLogger())
    }

    func events() async throws -> Int64 {
        let partitions = try await admin.partitionCount(topic: Topics.conversations, timeout: .seconds(10))
        var total: Int64 = 0
        for partition in 0..<partitions {
            total += try await admin.watermarks(TopicPartition(topic: Topics.conversations, partition: Int32(partition)), timeout: .seconds(10)).high
        }
        return total
    }

    func close() async { await admin.close() }
}
