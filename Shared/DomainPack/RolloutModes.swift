public import Events
import Foundation
import Yams

/// Each intent's rollout mode (docs/ROLLOUT.md): `rollout: {default: autonomous}` at the top of
/// the pack and `rollout: shadow|assisted|autonomous` on an intent. The planner re-reads them
/// while it runs (`parse` reads nothing else of the pack: no tools, no MCP servers).
public struct RolloutModes: Sendable, Equatable {
    public var defaultMode: RolloutMode
    public var byIntent: [String: RolloutMode]

    public init(defaultMode: RolloutMode = .autonomous, byIntent: [String: RolloutMode] = [:]) {
        self.defaultMode = defaultMode
        self.byIntent = byIntent
    }

    public func mode(for intent: String) -> RolloutMode { byIntent[intent] ?? defaultMode }

    public var uses: Set<RolloutMode> { Set(byIntent.values).union([defaultMode]) }

    public static func load(path: String) throws -> RolloutModes {
        guard let data = FileManager.default.contents(atPath: path) else { throw DomainPackError(path: path, message: "cannot read file") }
        return try parse(yaml: String(decoding: data, as: UTF8.self))
    }

    /// `knownIntents`: when given, an intent's mode must name one of them (a full pack load).
    public static func parse(yaml: String) throws -> RolloutModes {
        let document: Any?
        do { document = try Yams.load(yaml: yaml) } catch { throw DomainPackError(path: "$", message: "invalid YAML: \(error)") }
        guard let root = document as? [String: Any] else { throw DomainPackError(path: "$", message: "a pack is a mapping") }
        func mode(_ value: Any?, at path: String) throws -> RolloutMode {
            guard let text = value as? String, let mode = RolloutMode(rawValue: text) else {
                throw DomainPackError(path: path, message: "must be one of \(RolloutMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return mode
        }
        var modes = RolloutModes()
        if let rollout = root["rollout"] {
            guard let settings = rollout as? [String: Any] else { throw DomainPackError(path: "$.rollout", message: "must be a mapping with default") }
            for key in settings.keys where key != "default" {
                throw DomainPackError(path: "$.rollout.\(key)", message: "unknown key (set an intent's mode on the intent: rollout: shadow)")
            }
            if let value = settings["default"] { modes.defaultMode = try mode(value, at: "$.rollout.default") }
        }
        for (index, intent) in (root["intents"] as? [Any] ?? []).enumerated() {
            guard let spec = intent as? [String: Any], let value = spec["rollout"] else { continue }
            guard let name = spec["name"] as? String else { continue }
            modes.byIntent[name] = try mode(value, at: "$.intents[\(index)].rollout")
        }
        return modes
    }
}
