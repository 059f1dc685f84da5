import ArgumentParser
import DevStack
import Foundation
import Logging
import Postgres

/// A whole platform started for one command and thrown away after it (`switchboard eval`,
/// `switchboard shadow`): its own broker process, the five services on free ports, and a
/// database created on the given Postgres server and dropped afterwards. Nothing it does can
/// reach another platform: no shared topic, consumer group, schema or system of record.
enum ScratchPlatform {
    /// Starts the platform, runs `body`, and always stops it and drops its database.
    /// `database` is the name of the database to create (it must not exist).
    static func with<T>(
        adminURL: String, database: String, packPath: String, runDirectory: String,
        environment: [String: String], secrets: [String: String], logger: Logger,
        _ body: (DevStack) async throws -> T
    ) async throws -> T {
        let quoted = try PostgresQuery.quotedIdentifier(database)
        try admin(adminURL, "CREATE DATABASE \(quoted)")
        let url = adminURL.replacingOccurrences(of: #"/[^/?]*(\?|$)"#, with: "/\(database)$1", options: .regularExpression)
        let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        let stack = DevStack(options: .init(
            binDirectory: binDirectory, runDirectory: absolute(runDirectory), databaseURL: url,
            domainPackPath: absolute(packPath), basePort: 0, partitions: 8, logLevel: "notice",
            extraEnvironment: environment, secretEnvironment: secrets
        ), logger: logger)
        do {
            try await stack.start()
            let result = try await body(stack)
            await stack.stop()
            try? admin(adminURL, "DROP DATABASE IF EXISTS \(quoted) WITH (FORCE)")
            return result
        } catch {
            await stack.stop()
            try? admin(adminURL, "DROP DATABASE IF EXISTS \(quoted) WITH (FORCE)")
            throw error
        }
    }

    static func admin(_ url: String, _ sql: String) throws {
        let connection = try PostgresConnection.connect(url: url, applicationName: "switchboard-cli")
        defer { connection.close() }
        try connection.execute(simple: sql)
    }

    /// A path as the started services must see it (they run in the command's directory, but a
    /// run folder's env file must stand on its own).
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// The planner's model settings for `--brain` (rules, env, a catalog .yaml, an http(s) URL).
    static func brainEnvironment(brain: String, model: String) throws -> [String: String] {
        switch brain {
        case "rules": return [:]
        case "env":
            let settings = CLIEnvironment.forwardedToServices.settings.filter { $0.key.hasPrefix("SWITCHBOARD_LLM_") || $0.key == "SWITCHBOARD_MODEL_CATALOG" }
            guard !settings.isEmpty else { throw ValidationError("--brain env: set SWITCHBOARD_LLM_BASE_URL and SWITCHBOARD_LLM_MODEL, or SWITCHBOARD_MODEL_CATALOG") }
            return settings
        case let url where url.hasPrefix("http://") || url.hasPrefix("https://"):
            return ["SWITCHBOARD_LLM_BASE_URL": url, "SWITCHBOARD_LLM_MODEL": model]
        case let path where path.hasSuffix(".yaml") || path.hasSuffix(".yml"):
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("--brain \(path): no such catalog") }
            return ["SWITCHBOARD_MODEL_CATALOG": absolute(path)]
        default:
            throw ValidationError("--brain must be rules, env, a catalog .yaml or an http(s) URL")
        }
    }

    static func brainLabel(brain: String, model: String) -> String {
        switch brain {
        case "rules", "env": brain
        default: brain.hasPrefix("http") ? "\(model)@\(brain)" : (brain as NSString).lastPathComponent
        }
    }
}
