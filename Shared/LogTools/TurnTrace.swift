public import Events
import Foundation
import JSON

/// A waterfall of one turn built from its events alone: who appended what, when (from the
/// turn's first event), and how long after the event it reacts to.
public struct TurnTrace: Sendable {
    public struct Step: Sendable, Equatable {
        public var service: String
        public var type: String
        public var startMs: Int64
        /// Time since the causing event; nil for the turn's first event or a cause outside it.
        public var afterCauseMs: Int64?
        public var causeType: String?
        /// LLM cost in micro-dollars when the event records an LLM call.
        public var costMicros: Int64?
    }

    public var turnID: UUID
    public var conversationID: String
    public var steps: [Step]
    public var totalMs: Int64 { steps.map(\.startMs).max() ?? 0 }
    public var costMicros: Int64 { steps.compactMap(\.costMicros).reduce(0, +) }

    /// Events of one turn, in log order.
    public init(events: [EventEnvelope]) {
        let first = events.first
        turnID = first?.correlationID ?? UUID()
        conversationID = first?.conversationID ?? ""
        let start = events.map(\.occurredAtMillis).min() ?? 0
        let byID = Dictionary(events.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        steps = events.map { event in
            let cause = event.causationID.flatMap { byID[$0] }
            return Step(
                service: String(event.producer.split(separator: "@").first ?? Substring(event.producer)),
                type: event.type,
                startMs: event.occurredAtMillis - start,
                afterCauseMs: cause.map { event.occurredAtMillis - $0.occurredAtMillis },
                causeType: cause?.type,
                costMicros: event.payload["cost_micros"]?.intValue.map(Int64.init)
            )
        }
    }

    /// Groups a conversation's events into turns, in the order the turns started.
    public static func turns(of events: [EventEnvelope]) -> [TurnTrace] {
        var order: [UUID] = []
        var grouped: [UUID: [EventEnvelope]] = [:]
        var seen = Set<UUID>()
        for event in events where seen.insert(event.id).inserted {
            if grouped[event.correlationID] == nil { order.append(event.correlationID) }
            grouped[event.correlationID, default: []].append(event)
        }
        return order.map { TurnTrace(events: grouped[$0]!) }
    }

    /// Text waterfall, one line per event, bars scaled to the turn's length.
    public func render(width: Int = 30) -> String {
        var lines = ["turn \(turnID.uuidString.lowercased())  conversation \(conversationID)  \(steps.count) events  \(totalMs) ms  LLM cost $\(String(format: "%.6f", Double(costMicros) / 1_000_000))"]
        lines.append(pad("start ms", 9) + "  " + pad("service", 10) + "  " + pad("event", 24) + "  " + pad("after cause", 34) + "  timeline")
        let scale = Double(width) / Double(max(totalMs, 1))
        for step in steps {
            let cause = step.afterCauseMs.map { "+\($0) ms after \(step.causeType ?? "?")" } ?? ""
            let offset = Int(Double(step.startMs) * scale)
            let bar = String(repeating: " ", count: min(offset, width)) + "█"
            let cost = step.costMicros.map { "  $\(String(format: "%.6f", Double($0) / 1_000_000))" } ?? ""
            lines.append(pad(String(step.startMs), 9, right: true) + "  " + pad(step.service, 10) + "  " + pad(step.type, 24) + "  " + pad(cause, 34) + "  " + bar + cost)
        }
        return lines.joined(separator: "\n")
    }

    private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.count))
        return right ? padding + text : text + padding
    }
}
