import ArgumentParser
import Events
import Foundation
import LogTools

/// `switchboard trace <conversation-id|turn-id>`: a waterfall per turn, from the log alone.
struct TraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "trace", abstract: "Waterfall of a turn (or of every turn of a conversation) built from its events.")
    @OptionGroup var log: LogOptions
    @Argument(help: "A conversation id, or a turn id (the turn_id the gateway returned).")
    var id: String

    func run() async throws {
        var filter = EventFilter()
        if let turn = UUID(uuidString: id) {
            filter.turnID = turn
        } else {
            guard EnvelopeRules.isValidAggregateID(id) else { throw ValidationError("not a conversation id or turn id: \(id)") }
            filter.conversationID = id
        }
        let collected = Collected()
        _ = try await log.withScanner(client: "trace") { scanner in
            try await scanner.export(filter) { _, event in collected.add(event) }
        }
        let turns = TurnTrace.turns(of: collected.events)
        guard !turns.isEmpty else { throw ValidationError("no events for \(id) on \(log.topic)") }
        writeOut(turns.map { $0.render() }.joined(separator: "\n\n") + "\n")
    }

    /// One conversation's events: small, held to group them into turns.
    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [EventEnvelope] = []
        func add(_ event: EventEnvelope) { lock.withLock { list.append(event) } }
        var events: [EventEnvelope] { lock.withLock { list } }
    }
}
