import Foundation
import Testing

/// Both APIs fuzzed against their published OpenAPI documents with schemathesis (from PyPI;
/// `make test` installs it), authenticated as an administrator and without credentials: every
/// check schemathesis has (no 5xx, every response as documented, schema-valid requests
/// accepted, invalid ones refused, 401 without credentials, 405 for undocumented methods),
/// over at least 1,000 generated requests. The streams are left out (they never end).
@Suite(.serialized, .timeLimit(.minutes(12)))
struct APIFuzzTests {
    static var schemathesis: String {
        ProcessInfo.processInfo.environment["SWITCHBOARD_SCHEMATHESIS"] ?? Platform.repoRoot.appendingPathComponent(".run/st-venv/bin/schemathesis").path
    }

    @Test func bothAPIsHoldUpUnderGeneratedRequests() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.schemathesis), "schemathesis is not installed (scripts/install-test-deps.sh installs it)")
        // Without credentials every request is refused 401; the per-address limit for those
        // (60 a minute by default) would turn most into 429 before schemathesis is done.
        try await Platform.with("fuzz", environment: ["SWITCHBOARD_RATE_LIMIT_ADDRESS": "100000:10000"]) { p in
            // A body over the 16 KiB limit is refused 413 before its schema is looked at: a
            // rejection too, which schemathesis does not count as one by default.
            let config = p.stack.options.runDirectory + "/schemathesis.toml"
            let statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"].map { "\"\($0)\"" }.joined(separator: ", ")
            try ("[checks.negative_data_rejection]\nexpected-statuses = [" + statuses + "]\n")
                .write(toFile: config, atomically: true, encoding: .utf8)
            var generated = 0
            for (service, base) in [("gateway", p.stack.gatewayURL), ("hilqueue", p.stack.url(of: "hilqueue"))] {
                for token in [p.token, nil] {
                    var arguments = [
                        "--config-file", config, "run", base + "/openapi.json", "--checks", "all", "--max-examples", "25", "--seed", "20261205",
                        "--exclude-path-regex", "stream", "--request-timeout", "40", "--max-response-time", "35",
                        "--generation-allow-x00", "false", "--no-color",
                    ]
                    if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
                    // In the platform's run folder: schemathesis keeps its cache in the working directory.
                    let run = try runProgram(
                        Self.schemathesis, arguments, environment: ProcessInfo.processInfo.environment.merging(["NO_COLOR": "1"]) { $1 },
                        directory: URL(fileURLWithPath: p.stack.options.runDirectory))
                    let label = "\(service), \(token == nil ? "no credentials" : "administrator")"
                    // On failure: the failures section (each failing request with its curl line).
                    let failures = run.stdout.range(of: "FAILURES").map { String(run.stdout[$0.lowerBound...].prefix(12_000)) } ?? String(run.stdout.suffix(6000))
                    #expect(run.status == 0, "\(label):\n\(failures)\n\(run.stderr.suffix(2000))")
                    let count = Self.generated(run.stdout)
                    #expect(count > 0, "\(label): no requests counted in:\n\(run.stdout.suffix(2000))")
                    generated += count
                }
            }
            #expect(generated >= 1000, "\(generated) generated requests")
        }
    }

    /// `N generated` from schemathesis's summary (`Test cases: 772 generated, …`).
    static func generated(_ output: String) -> Int {
        guard let range = output.range(of: #"([0-9]+) generated"#, options: .regularExpression) else { return 0 }
        return Int(output[range].split(separator: " ")[0]) ?? 0
    }
}
