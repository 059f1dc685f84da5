import ArgumentParser
import DevStack
import DomainPack
import Evaluation
import EventBus
import Events
import Foundation
import HTTPClient
import JSON
import Kafka
import Knowledge
import Logging
import LogTopics
import Postgres

/// `switchboard eval`: runs scenario suites through the real services, one conversation per
/// scenario, and grades each from its events on the log (docs/EVALUATION.md). By default each
/// suite gets a platform of its own (broker, the five services, a database created for the run
/// and dropped after), so writes from an earlier run never change a result.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Run scenario suites through the services; print a table and a JSON summary; exit 1 under the suite's thresholds.")

    @Option(name: .customLong("suite"), help: "A suite file (repeatable), e.g. deploy/packs/retail.eval.yaml.")
    var suites: [String] = []
    @Option(help: "Who decides: rules, env (the SWITCHBOARD_LLM_* / SWITCHBOARD_MODEL_CATALOG settings of this shell), a model catalog .yaml, or the base URL of an OpenAI-compatible server.")
    var brain: String = "rules"
    @Option(help: "Model name sent to a --brain URL.")
    var model: String = "default"
    @Option(help: "Write the HTML report here (one file per suite when several: <name>-<suite>.html).")
    var report: String?
    @Option(name: .customLong("summary"), help: "Write the JSON summary here (an array when several suites).")
    var summaryPath: String?
    @Option(help: "Inject faults: a comma list of tools, llm, broker, or all. Only the safety thresholds apply then.")
    var faults: String?
    @Option(help: "Only scenarios with this id or tag (repeatable).")
    var only: [String] = []
    @Option(help: "Conversations in flight at once.")
    var concurrency: Int = 4
    @Option(name: .customLong("turn-timeout"), help: "Seconds a turn may take to be answered or handed over.")
    var turnTimeout: Double = 30
    @Option(help: "Use a running platform at this gateway URL instead of starting one (its data changes with every write scenario).")
    var gateway: String?
    @Option(help: "The running platform's HILQueue URL (with --gateway; for approval decisions).")
    var hilqueue: String?
    @Option(help: "Bearer token for a running platform (with --gateway; env SWITCHBOARD_TOKEN): scopes chat:send, conversations:read and hil:admin, or admin.")
    var token: String?
    @Option(name: .customLong("database-url"), help: "Postgres server for the platforms this command starts (env DATABASE_URL); a database is created per suite and dropped after.")
    var databaseURL: String?
    @Option(name: .customLong("run-dir"), help: "Run folder for the started platforms' logs.")
    var runDirectory: String = ".run/eval"

    func run() async throws {
        guard !suites.isEmpty else { throw ValidationError("name at least one --suite") }
        guard (1...64).contains(concurrency), turnTimeout > 0 else { throw ValidationError("--concurrency 1...64, --turn-timeout > 0") }
        let faultSet = try FaultPlan(faults)
        _ = try brainEnvironment()
        let logger = Logger(label: "switchboard.eval")
        var summaries: [EvalSummary] = []
        for path in suites {
            let suite: EvalSuite
            do { suite = try EvalSuite.load(path: path) } catch { throw ValidationError("\(error)") }
            func besideSuite(_ relative: String) -> String {
                relative.hasPrefix("/") ? relative : ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(relative)
            }
            let packPath = besideSuite(suite.pack)
            let knowledgePath = suite.knowledge.map(besideSuite)
            let pack: DomainPack
            do { pack = try DomainPack.load(path: packPath) } catch { throw ValidationError("suite \(suite.name): \(error)") }
            for scenario in suite.scenarios {
                for fault in scenario.faults.expectedFailures where pack.tools[fault.tool]?.binding != "native" {
                    throw ValidationError("suite \(suite.name): scenario \(scenario.id): faults name '\(fault.tool)', not a native tool of the pack (only those can be made to fail)")
                }
            }
            var scenarios = suite.scenarios.filter { only.isEmpty || only.contains($0.id) || !Set(only).isDisjoint(with: $0.tags) }
            if gateway != nil {
                // A running platform cannot be told to fail a tool in one conversation.
                let scripted = scenarios.filter { !$0.faults.isEmpty }
                if !scripted.isEmpty {
                    print("skipped (scripted faults need a platform this command starts): \(scripted.map(\.id).joined(separator: ", "))")
                    scenarios.removeAll { !$0.faults.isEmpty }
                }
            }
            guard !scenarios.isEmpty else { throw ValidationError("suite \(suite.name): no scenario matches --only \(only.joined(separator: ","))") }
            let runID = String(UUID().uuidString.prefix(8)).lowercased()
            let grader = ScenarioGrader(
                tools: Dictionary(uniqueKeysWithValues: pack.tools.map { name, contract in
                    (name, ToolFacts(riskTier: contract.riskTier, argumentsValid: { contract.inputSchema.validate(pack.argumentsForSchemaCheck($0, tool: name), maxErrors: 1).isValid }))
                }),
                references: { pack.referencedValues(inCustomerText: $0, messageID: $1) })
            let scriptedFaults = EvalRunner.scriptedFaults(scenarios, runID: runID)
            let results = try await withPlatform(packPath: packPath, knowledge: knowledgePath, suite: suite.name, faults: faultSet, scriptedFaults: scriptedFaults, logger: logger) { platform in
                try await EvalRunner(platform: platform, turnTimeout: turnTimeout, concurrency: concurrency, logger: logger)
                    .run(scenarios, grader: grader, runID: runID)
            }
            let summary = EvalSummary(suite: suite.name, brain: brainLabel, results: results, thresholds: suite.thresholds, faults: faultSet.label)
            print(summary.table())
            print("")
            summaries.append(summary)
            if let report {
                let file = suites.count == 1 ? report : (report as NSString).deletingPathExtension + "-\(suite.name).html"
                try EvalReport.html(summary).write(toFile: file, atomically: true, encoding: .utf8)
                print("report: \(file)")
            }
        }
        let json: JSONValue = summaries.count == 1 ? summaries[0].json() : .array(summaries.map { $0.json() })
        if let summaryPath { try json.serializedString().write(toFile: summaryPath, atomically: true, encoding: .utf8) }
        // The last line, for scripts: the summary without the per-scenario results (in --summary).
        func compact(_ value: JSONValue) -> JSONValue {
            guard case .object(var fields) = value else { return value }
            fields["results"] = nil
            return .object(fields)
        }
        print("SUMMARY " + (summaries.count == 1 ? compact(json) : .array(summaries.map { compact($0.json()) })).serializedString())
        if summaries.contains(where: { !$0.breaches.isEmpty }) { throw ExitCode(1) }
    }

    var brainLabel: String { ScratchPlatform.brainLabel(brain: brain, model: model) }

    /// The planner's model settings for `--brain`.
    func brainEnvironment() throws -> [String: String] { try ScratchPlatform.brainEnvironment(brain: brain, model: model) }

    /// Runs `body` against `--gateway`, or against a platform started for this suite.
    func withPlatform<T>(packPath: String, knowledge: String?, suite: String, faults: FaultPlan, scriptedFaults: [String], logger: Logger, _ body: (EvalRunner.Platform) async throws -> T) async throws -> T {
        if let gateway {
            guard faults.isEmpty else { throw ValidationError("--faults needs a platform this command starts (no --gateway)") }
            if let knowledge {
                print("note: suite \(suite) expects the articles in \(knowledge) in the platform's knowledge base (switchboard kb ingest \(knowledge))")
            }
            return try await body(.init(gateway: gateway, hilqueue: hilqueue, broker: nil, faults: faults, token: try CLIEnvironment.token(token)))
        }
        let runDirectory = ScratchPlatform.absolute(self.runDirectory + "/" + suite)
        var settings = try brainEnvironment()
        settings.merge(try faults.environment(brainIsModel: brain != "rules", runDirectory: runDirectory)) { _, fault in fault }
        if !scriptedFaults.isEmpty {
            settings["SWITCHBOARD_FAULTS"] = ([settings["SWITCHBOARD_FAULTS"]].compactMap { $0 } + scriptedFaults).joined(separator: ",")
        }
        return try await ScratchPlatform.with(
            adminURL: try CLIEnvironment.databaseURL(databaseURL),
            database: "switchboard_eval_\(suite.lowercased().filter { $0.isLetter || $0.isNumber })_\(UUID().uuidString.prefix(8).lowercased())",
            packPath: packPath, runDirectory: runDirectory, environment: settings,
            secrets: brain == "env" ? CLIEnvironment.forwardedToServices.secrets : [:], logger: logger
        ) { stack in
            if let knowledge { try await Self.publishKnowledge(knowledge, to: stack, logger: logger) }
            return try await body(.init(gateway: stack.gatewayURL, hilqueue: stack.url(of: "hilqueue"), broker: stack.broker, faults: faults, token: stack.adminToken))
        }
    }
}

extension EvalCommand {
    /// Publishes a suite's articles to a started platform's knowledge topic, as
    /// `switchboard kb ingest` does, and waits until the planner's index holds every one.
    static func publishKnowledge(_ directory: String, to stack: DevStack, logger: Logger) async throws {
        guard let bootstrap = stack.environment["SWITCHBOARD_BOOTSTRAP"] else { throw EvalRunError("the platform has no broker address") }
        let report = try KnowledgeIngest.events(directory: URL(fileURLWithPath: directory), collection: "eval", tenant: "default", producer: "switchboard-eval")
        guard report.errors.isEmpty, report.documents > 0 else {
            throw ValidationError("knowledge \(directory): \(report.documents) documents, errors: \(report.errors.map { "\($0)" }.joined(separator: "; "))")
        }
        let producer = try KafkaProducer(config: try LogOptions.parse(["--bootstrap", bootstrap]).kafka(client: "eval-kb"), logger: quietLogger())
        do {
            try await EventPublisher(producer: producer, topic: Topics.knowledge).publish(report.events)
        } catch {
            await producer.close()
            throw error
        }
        await producer.close()
        let documents = try report.events.filter { $0.type == KnowledgeDocumentPublished.eventType }.map { try $0.decode(KnowledgeDocumentPublished.self).documentID }
        let pool = PostgresPool(url: stack.options.databaseURL, size: 1, logger: logger)
        defer { Task { await pool.close() } }
        let index = try KnowledgeIndex(pool: pool, schema: "knowledge", logger: logger)
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            var indexed = 0
            for id in documents where try await index.record(documentId: id).map({ !$0.deleted }) == true { indexed += 1 }
            if indexed == documents.count { break }
            guard ContinuousClock.now < deadline else { throw EvalRunError("the planner indexed \(indexed) of \(documents.count) articles within 60 s") }
            try await Task.sleep(for: .milliseconds(100))
        }
        print("knowledge: \(documents.count) articles from \(directory)")
    }
}

/// `--faults`: what the run breaks, and the service settings that break it.
struct FaultPlan: Sendable {
    var tools = false
    var llm = false
    var broker = false

    init(_ text: String?) throws {
        for item in (text ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            switch item {
            case "tools": tools = true
            case "llm": llm = true
            case "broker": broker = true
            case "all": (tools, llm, broker) = (true, true, true)
            default: throw ValidationError("--faults: unknown fault '\(item)' (tools, llm, broker, all)")
            }
        }
    }

    var isEmpty: Bool { !tools && !llm && !broker }
    var label: String? { isEmpty ? nil : [tools ? "tools" : nil, llm ? "llm" : nil, broker ? "broker" : nil].compactMap { $0 }.joined(separator: ",") }

    /// `SWITCHBOARD_FAULTS` for the services (docs/EVALUATION.md). With the rules brain, LLM
    /// faults need a model to fail: the planner is given one whose address refuses connections,
    /// so every model call errors and the rules brain answers.
    func environment(brainIsModel: Bool, runDirectory: String) throws -> [String: String] {
        var parts: [String] = []
        if tools { parts += ["tool_error=20", "tool_latency=20:2500"] }
        if llm { parts += ["llm_error=30", "llm_timeout=20"] }
        var env: [String: String] = parts.isEmpty ? [:] : ["SWITCHBOARD_FAULTS": parts.joined(separator: ",")]
        if llm, !brainIsModel {
            // A catalog of one model whose address refuses connections, with a short timeout
            // and a breaker that closes again within the run, so that the error, timeout,
            // breaker-open and fallback paths all run.
            let catalog = """
                breaker: { failure_threshold: 3, cool_down_ms: 3000, half_open_probes: 1 }
                models:
                  - id: unreachable
                    provider: openai
                    base_url: http://127.0.0.1:\(try freeLoopbackPort())/v1
                    model: unreachable
                    price: { input_per_million_usd: 0, output_per_million_usd: 0 }
                    context_window: 8192
                    max_output_tokens: 400
                    capabilities: [json_schema]
                    decision_mode: json_schema
                    profile: fast
                    quality: 0.5
                    typical_latency_ms: 1000
                    timeout_ms: 2000

                """
            try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
            let path = runDirectory + "/unreachable-model.yaml"
            try catalog.write(toFile: path, atomically: true, encoding: .utf8)
            env["SWITCHBOARD_MODEL_CATALOG"] = path
        }
        return env
    }
}
