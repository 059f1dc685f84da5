import ArgumentParser
import DomainPack
import Events
import Foundation
import JSON
import LogTools
import Logging

/// `switchboard shadow`: replays recorded customer messages from production's log through a
/// candidate brain or policy and writes a decision diff (docs/SHADOW.md). The candidate runs on a
/// platform of its own (broker, services, a database created for the run and dropped after), with
/// the executor in replay mode: no tool runs, each call is answered from production's recorded
/// result. Nothing reaches a customer, a system of record, or production's log and read models.
struct ShadowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shadow",
        abstract: "Replay production's customer messages through a candidate brain or policy (tools answered from the recording); write a decision diff.")

    @OptionGroup var log: LogOptions
    @Option(help: "Start: a per-partition offset (e.g. 1200) or a UTC time (2026-11-23, 2026-11-23T10:00:00Z); default the log's start.")
    var from: String?
    @Option(help: "End (exclusive), as --from; default the log's end when the read starts. A turn counts when its customer message is in the range.")
    var to: String?
    @Option(help: "Only this conversation (repeatable).")
    var conversation: [String] = []
    @Option(help: "Only this tenant.")
    var tenant: String?
    @Option(help: "At most this many conversations (the first, by their first message in the range).")
    var limit: Int?
    @Option(help: "The candidate brain: rules, env (the SWITCHBOARD_LLM_* / SWITCHBOARD_MODEL_CATALOG settings of this shell), a model catalog .yaml, or the base URL of an OpenAI-compatible server.")
    var brain: String = "rules"
    @Option(help: "Model name sent to a --brain URL.")
    var model: String = "default"
    @Option(help: "The candidate policy: a domain pack file (intents, rules, replies, tools) to run instead of --pack.")
    var policy: String?
    @Option(help: "The pack production runs, used when there is no --policy.")
    var pack: String = "deploy/packs/retail.yaml"
    @Option(help: "Write the decision diff (every turn and the agreement figures) here as JSON.")
    var out: String?
    @Option(help: "Write an HTML report (the figures, and both sides of every turn where the candidate disagreed) here.")
    var report: String?
    @Option(help: "Conversations replayed at once.")
    var concurrency: Int = 4
    @Option(name: .customLong("turn-timeout"), help: "Seconds a replayed turn may take to be answered or handed over.")
    var turnTimeout: Double = 30
    @Option(name: .customLong("database-url"), help: "Postgres server for the candidate platform (env DATABASE_URL); a database is created for the run and dropped after.")
    var databaseURL: String?
    @Option(name: .customLong("run-dir"), help: "Run folder for the candidate platform's logs and the tool recording.")
    var runDirectory: String = ".run/shadow"

    func run() async throws {
        guard (1...64).contains(concurrency), turnTimeout > 0 else { throw ValidationError("--concurrency 1...64, --turn-timeout > 0") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        let brainSettings = try ScratchPlatform.brainEnvironment(brain: brain, model: model)
        let packPath = policy ?? pack
        let packFlag = policy == nil ? "--pack" : "--policy"
        guard FileManager.default.isReadableFile(atPath: packPath) else { throw ValidationError("\(packFlag) \(packPath): cannot read the file") }
        do { _ = try DomainPack.load(path: packPath) } catch { throw ValidationError("\(packFlag) \(packPath): \(error)") }
        let adminURL = try CLIEnvironment.databaseURL(databaseURL)
        let filter = try rangeFilter()

        let recording = try await log.withScanner(client: "shadow") { scanner in
            try await ShadowRecording.read(scanner: scanner, filter: filter, conversations: Set(conversation), limit: limit)
        }
        guard recording.turnCount > 0 else {
            throw ValidationError("no customer messages (MessageReceived) on \(log.topic) in the range \(from ?? "start") – \(to ?? "end")\(conversation.isEmpty ? "" : " for \(conversation.joined(separator: ", "))"): nothing to replay")
        }

        let runID = String(UUID().uuidString.prefix(8)).lowercased()
        let runDirectory = ScratchPlatform.absolute(self.runDirectory + "/" + runID)
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        let replayPath = runDirectory + "/tool-replay.json"
        let candidateID = { ShadowReplayer.candidateID(runID: runID, conversationID: $0) }
        try Data(recording.replayFile(candidateID: candidateID).serialized()).write(to: URL(fileURLWithPath: replayPath))
        FileHandle.standardError.write(Data("shadow \(runID): replaying \(recording.turnCount) turns of \(recording.conversations.count) conversations through brain \(brainLabel), policy \(packPath)\n".utf8))

        let logger = quietLogger()
        var environment = brainSettings
        environment["SWITCHBOARD_TOOL_REPLAY"] = replayPath
        let sides = try await ScratchPlatform.with(
            adminURL: adminURL, database: "switchboard_shadow_\(runID)", packPath: packPath, runDirectory: runDirectory,
            environment: environment, secrets: brain == "env" ? CLIEnvironment.forwardedToServices.secrets : [:], logger: logger
        ) { stack in
            try await ShadowReplayer(gateway: stack.gatewayURL, token: stack.adminToken, turnTimeout: turnTimeout, concurrency: concurrency, logger: logger).replay(recording, runID: runID)
        }

        var turns: [ShadowTurn] = []
        for (conversation, candidate) in zip(recording.conversations, sides) {
            for (index, turn) in conversation.turns.enumerated() {
                turns.append(ShadowTurn(
                    conversationID: conversation.id, candidateConversationID: candidateID(conversation.id), index: index + 1, turnID: turn.turnID,
                    customerID: turn.customerID, text: turn.text, occurredAtMillis: turn.occurredAtMillis,
                    production: ShadowSide(events: turn.events), candidate: index < candidate.count ? candidate[index] : nil))
            }
        }
        let diff = ShadowDiff(runID: runID, brain: brainLabel, policy: packPath, from: from, to: to, turns: turns)
        print("shadow \(runID): brain \(brainLabel), policy \(packPath)")
        print(diff.summary.table())
        if let out {
            try Data(diff.json().serialized()).write(to: URL(fileURLWithPath: out))
            print("diff: \(out)")
        }
        if let report {
            try diff.html().write(toFile: report, atomically: true, encoding: .utf8)
            print("report: \(report)")
        }
        print("SUMMARY " + diff.summary.json().serializedString())
    }

    var brainLabel: String { ScratchPlatform.brainLabel(brain: brain, model: model) }

    /// `--from`/`--to`/`--tenant` as `events export` reads them.
    func rangeFilter() throws -> EventFilter {
        var filter = EventFilter(tenantID: tenant)
        if let from {
            switch try FilterOptions.bound(from, name: "--from") {
            case .offset(let offset): filter.fromOffset = offset
            case .time(let millis): filter.fromMillis = millis
            }
        }
        if let to {
            switch try FilterOptions.bound(to, name: "--to") {
            case .offset(let offset): filter.toOffset = offset
            case .time(let millis): filter.toMillis = millis
            }
        }
        return filter
    }
}
