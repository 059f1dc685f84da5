import ArgumentParser
import Foundation
import HTTPClient
import JSON
import Logging

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Benchmarks against a running platform.", subcommands: [BenchTurns.self, BenchRebuild.self])
}

/// `switchboard bench turns`: complete customer turns through the running services (HTTP in,
/// every hop on the log, Postgres writes, reply out), as a client would see them.
struct BenchTurns: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "turns", abstract: "Order-status turns over HTTP with ?wait; prints latency percentiles and turns/s.")

    @Option(help: "Gateway base URL (env GATEWAY_URL).")
    var gateway: String?
    @Option(help: "Turns to run.")
    var count: Int = 500
    @Option(help: "Turns in flight at once (one conversation each).")
    var concurrency: Int = 8
    @Option(help: "Warm-up turns, not counted.")
    var warmup: Int = 50

    func run() async throws {
        guard let gateway = gateway ?? ProcessInfo.processInfo.environment["GATEWAY_URL"] else {
            throw ValidationError("set GATEWAY_URL (source .run/env) or --gateway")
        }
        guard count > 0, (1...256).contains(concurrency), warmup >= 0 else { throw ValidationError("count > 0, concurrency 1...256, warmup >= 0") }
        let client = HTTPClient(maxConcurrentRequests: concurrency, userAgent: "switchboard-bench", logger: Logger(label: "bench"))
        let run = UUID().uuidString.prefix(8).lowercased()
        let orders = ["ABC123", "DEF456", "GHI789", "JKL012", "ZZZ999"]

        @Sendable func turn(_ index: Int) async throws -> Duration {
            let body = #"{"customer_id":"cus_bench","text":"Where is my order \#(orders[index % orders.count])?"}"#
            let request = HTTPRequest(
                method: "POST", url: "\(gateway)/v1/conversations/bench-\(run)-\(index)/messages?wait=30",
                headers: ["content-type": "application/json"], body: Array(body.utf8), timeout: .seconds(40)
            )
            let started = ContinuousClock.now
            let response = try await client.execute(request)
            let elapsed = ContinuousClock.now - started
            guard response.status == 200, (try? JSONValue.parse(response.body))?["status"] == "replied" else {
                throw ValidationError("turn \(index) got HTTP \(response.status) without a reply")
            }
            return elapsed
        }

        func runAll(_ range: Range<Int>) async throws -> [Duration] {
            try await withThrowingTaskGroup(of: Duration.self) { group in
                var next = range.lowerBound
                var latencies: [Duration] = []
                for _ in 0..<min(concurrency, range.count) {
                    let index = next
                    group.addTask { try await turn(index) }
                    next += 1
                }
                while let latency = try await group.next() {
                    latencies.append(latency)
                    if next < range.upperBound {
                        let index = next
                        group.addTask { try await turn(index) }
                        next += 1
                    }
                }
                return latencies
            }
        }

        _ = try await runAll(0..<warmup)
        let started = ContinuousClock.now
        let latencies = try await runAll(warmup..<(warmup + count)).sorted()
        let wall = ContinuousClock.now - started
        await client.shutdown()

        func ms(_ d: Duration) -> String { String(format: "%.1f", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000) }
        func percentile(_ p: Double) -> Duration { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        print("turns=\(count) concurrency=\(concurrency) wall_s=\(String(format: "%.2f", seconds)) turns_per_s=\(String(format: "%.1f", Double(count) / seconds))")
        print("latency_ms p50=\(ms(percentile(0.50))) p90=\(ms(percentile(0.90))) p99=\(ms(percentile(0.99))) max=\(ms(latencies.last!))")
    }
}
