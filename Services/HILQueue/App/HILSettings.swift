import Foundation
import ServiceRuntime
import Yams

/// HILQueue's own settings, from the environment:
/// `SWITCHBOARD_HIL_SLA_SECONDS` (default 300), `SWITCHBOARD_HIL_HEARTBEAT_TIMEOUT_SECONDS`
/// (default 60) and `SWITCHBOARD_HIL_AGENTS`, a YAML file of agents to create at start
/// (`make up` seeds deploy/agents.yaml): `agents: [{id, name, skills, capacity}]`. Seeding sets
/// profiles only; an agent comes online from the inbox.
struct HILSettings {
    struct SeedAgent: Equatable {
        var id: String, name: String, skills: [String], capacity: Int
    }

    var desk: HandoverDesk.Settings
    var seedAgents: [SeedAgent]

    init(environment: [String: String]) throws {
        func seconds(_ name: String, default value: Int) throws -> Int {
            guard let raw = environment[name], !raw.isEmpty else { return value }
            guard let number = Int(raw), (1...86_400).contains(number) else { throw ConfigError("\(name) must be 1...86400 seconds, got '\(raw)'") }
            return number
        }
        desk = HandoverDesk.Settings(
            slaSeconds: try seconds("SWITCHBOARD_HIL_SLA_SECONDS", default: 300),
            heartbeatTimeoutSeconds: try seconds("SWITCHBOARD_HIL_HEARTBEAT_TIMEOUT_SECONDS", default: 60))
        seedAgents = try environment["SWITCHBOARD_HIL_AGENTS"].flatMap { $0.isEmpty ? nil : $0 }.map(Self.agents(file:)) ?? []
    }

    static func agents(file path: String) throws -> [SeedAgent] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigError("SWITCHBOARD_HIL_AGENTS: cannot read \(path)") }
        return try agents(yaml: String(decoding: data, as: UTF8.self), origin: path)
    }

    static func agents(yaml: String, origin: String) throws -> [SeedAgent] {
        guard let root = try Yams.load(yaml: yaml) as? [String: Any], let list = root["agents"] as? [[String: Any]] else {
            throw ConfigError("\(origin): expected `agents:` with a list of {id, name, skills, capacity}")
        }
        return try list.enumerated().map { index, entry in
            guard let id = entry["id"] as? String, !id.isEmpty, let name = entry["name"] as? String,
                  let skills = entry["skills"] as? [String], !skills.isEmpty, let capacity = entry["capacity"] as? Int, (0...100).contains(capacity)
            else { throw ConfigError("\(origin): agents[\(index)] needs id, name, skills (a non-empty list) and capacity (0...100)") }
            return SeedAgent(id: id, name: name, skills: skills, capacity: capacity)
        }
    }
}
