import ArgumentParser
import DevStack
import Foundation
import ServiceRuntime

/// Every environment variable the CLI reads, in one place; a flag always wins over its
/// variable. `.run/env`, written by `switchboard up`, holds them for a shell to source.
enum CLIEnvironment {
    static var variables: [String: String] { ProcessInfo.processInfo.environment }

    static func value(_ name: String) -> String? {
        guard let value = variables[name], !value.isEmpty else { return nil }
        return value
    }

    /// `DATABASE_URL`.
    static func databaseURL(_ flag: String?) throws -> String {
        guard let url = flag ?? value("DATABASE_URL") else {
            throw ValidationError("set DATABASE_URL (source .run/env) or --database-url")
        }
        return url
    }

    static func optionalDatabaseURL(_ flag: String?) -> String? { flag ?? value("DATABASE_URL") }

    /// `GATEWAY_URL`.
    static func gatewayURL(_ flag: String?) throws -> String {
        guard let url = flag ?? value("GATEWAY_URL") else {
            throw ValidationError("set GATEWAY_URL (source .run/env) or --gateway")
        }
        return url
    }

    /// The bearer token for a running platform's APIs: `--token`, else `SWITCHBOARD_TOKEN`
    /// (`make up` writes a development one to .run/env).
    static func token(_ flag: String?) throws -> String {
        guard let token = flag ?? value("SWITCHBOARD_TOKEN"), !token.isEmpty else {
            throw ValidationError("set SWITCHBOARD_TOKEN (source .run/env) or --token")
        }
        return token
    }

    /// `SWITCHBOARD_BOOTSTRAP`.
    static func optionalBootstrap(_ flag: String?) -> String? { flag ?? value("SWITCHBOARD_BOOTSTRAP") }

    static func bootstrap(_ flag: String?) throws -> String {
        guard let servers = optionalBootstrap(flag) else {
            throw ValidationError("set SWITCHBOARD_BOOTSTRAP (source .run/env) or --bootstrap")
        }
        return servers
    }

    /// `SWITCHBOARD_KAFKA_FETCH_WAIT_MS` (default 5, as the services).
    static func fetchWaitMs() throws -> Int {
        guard let raw = value("SWITCHBOARD_KAFKA_FETCH_WAIT_MS") else { return 5 }
        guard let ms = Int(raw), (0...10_000).contains(ms) else {
            throw ValidationError("SWITCHBOARD_KAFKA_FETCH_WAIT_MS must be 0...10000, got '\(raw)'")
        }
        return ms
    }

    /// `SWITCHBOARD_EXIT_ON_STDIN_EOF` (`ParentWatch`): set for a broker started by a dev stack.
    static func exitOnStdinEOF() throws -> Bool {
        do {
            return try ParentWatch.isRequested(in: variables)
        } catch {
            throw ValidationError(String(describing: error))
        }
    }

    /// What `switchboard up` passes on to the services: the planner's model settings and the
    /// variables holding API keys (`DevStack.forwardedEnvironment`).
    static var forwardedToServices: (settings: [String: String], secrets: [String: String]) {
        DevStack.forwardedEnvironment(from: variables)
    }
}
