public import Foundation

/// Faults a service injects into its own dependencies, for chaos runs (`switchboard eval
/// --faults`, docs/EVALUATION.md); never set in production. `SWITCHBOARD_FAULTS` is a comma
/// list: `tool_error=20` (percent of native tool calls that fail as if their system of record
/// were down), `tool_latency=20:2500` (percent of calls that first wait 2500 ms inside the
/// system of record, so the tool's real timeout fires), `llm_error=30` and `llm_timeout=20`
/// (percent of model calls that fail at once, or after the model's timeout, without reaching
/// the provider). Whether a call is hit depends only on its key (a step id), so a redelivered
/// step meets the same fault.
///
/// A scenario's own faults (`faults:` in an eval suite) are scripted per conversation:
/// `tool_error@<conversation id>=<tool>` makes every call of that tool in that conversation
/// fail as unavailable, `tool_timeout@<conversation id>=<tool>` makes it stall until the tool's
/// timeout fires.
public struct FaultInjection: Sendable, Equatable {
    public var toolErrorPercent = 0
    public var toolLatencyPercent = 0
    public var toolLatencyMs = 0
    public var llmErrorPercent = 0
    public var llmTimeoutPercent = 0
    /// Conversation id → tool → the fault every call of it meets there.
    public var scripted: [String: [String: ScriptedToolFault]] = [:]

    public enum ScriptedToolFault: String, Sendable, Equatable {
        case error = "tool_error"
        case timeout = "tool_timeout"
    }

    public init() {}

    public var isEmpty: Bool { self == FaultInjection() }

    public static func parse(_ text: String?) throws(ConfigError) -> FaultInjection {
        var faults = FaultInjection()
        for item in (text ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ConfigError("SWITCHBOARD_FAULTS: '\(item)' is not name=value") }
            func percent(_ raw: String) throws(ConfigError) -> Int {
                guard let value = Int(raw), (0...100).contains(value) else { throw ConfigError("SWITCHBOARD_FAULTS: \(parts[0]) must be a percent 0...100, got '\(raw)'") }
                return value
            }
            if let at = parts[0].firstIndex(of: "@") {
                let conversation = String(parts[0][parts[0].index(after: at)...])
                guard let fault = ScriptedToolFault(rawValue: String(parts[0][..<at])), !conversation.isEmpty, !parts[1].isEmpty else {
                    throw ConfigError("SWITCHBOARD_FAULTS: '\(item)' is not tool_error@<conversation>=<tool> or tool_timeout@<conversation>=<tool>")
                }
                faults.scripted[conversation, default: [:]][parts[1]] = fault
                continue
            }
            switch parts[0] {
            case "tool_error": faults.toolErrorPercent = try percent(parts[1])
            case "tool_latency":
                let pair = parts[1].split(separator: ":").map(String.init)
                guard pair.count == 2, let ms = Int(pair[1]), (1...120_000).contains(ms) else {
                    throw ConfigError("SWITCHBOARD_FAULTS: tool_latency is percent:milliseconds, got '\(parts[1])'")
                }
                faults.toolLatencyPercent = try percent(pair[0])
                faults.toolLatencyMs = ms
            case "llm_error": faults.llmErrorPercent = try percent(parts[1])
            case "llm_timeout": faults.llmTimeoutPercent = try percent(parts[1])
            default: throw ConfigError("SWITCHBOARD_FAULTS: unknown fault '\(parts[0])' (tool_error, tool_latency, llm_error, llm_timeout)")
            }
        }
        return faults
    }

    /// The fault a scenario scripted for `tool` in `conversation`, if any.
    public func scripted(conversation: String, tool: String) -> ScriptedToolFault? {
        scripted[conversation]?[tool]
    }

    /// Whether the call with `key` is among the `percent` hit by the fault named `salt`.
    public static func hits(_ percent: Int, key: UUID, salt: String) -> Bool {
        guard percent > 0 else { return false }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: stable across processes, unlike Hasher
        for byte in Array(salt.utf8) + Array(key.uuidString.utf8) {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return Int(hash % 100) < percent
    }
}
