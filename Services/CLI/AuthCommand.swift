import AccessControl
import ArgumentParser
import Auth
import Foundation
import Logging
import Postgres

/// `switchboard auth`: the platform's identities (docs/SECURITY.md). Key sets for the services
/// to verify tokens with, tokens signed by them, and tenants' API keys.
struct AuthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth", abstract: "Token key sets, tokens, and tenants' API keys.",
        subcommands: [AuthKeys.self, AuthToken.self, APIKeysCommand.self]
    )
}

/// The key set the services read (`SWITCHBOARD_AUTH_KEYS_FILE`); `--verify-only` strips private
/// keys for services that only check tokens.
struct AuthKeys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Print a new key set (an HS256 secret and an ES256 key pair that signs), or add a key to one to rotate.")
    @Option(help: "An existing key set file: a new ES256 key is added and becomes the signing key; the old keys stay until removed (rotation).")
    var rotate: String?
    @Option(help: "Remove the key with this kid from --rotate's set (after every token it signed has expired).")
    var remove: String?
    @Flag(help: "Without private keys (for services that only verify).")
    var verifyOnly = false

    func run() async throws {
        var keySet: AuthKeySet
        if let rotate {
            guard let data = FileManager.default.contents(atPath: rotate) else { throw ValidationError("cannot read \(rotate)") }
            keySet = try AuthKeySet(jsonData: data)
            if let remove {
                keySet = try keySet.removing(kid: remove)
            } else {
                let kid = "es256-" + String(UUID().uuidString.prefix(8)).lowercased()
                keySet = try keySet.adding(try AuthKeySet.Key.generateES256(kid: kid), makeSigningKey: true)
            }
        } else {
            guard remove == nil else { throw ValidationError("--remove needs --rotate <file>") }
            keySet = try AuthKeySet.generateDevelopment()
        }
        if verifyOnly { keySet = keySet.withoutPrivateKeys() }
        writeOut(try keySet.jsonString(prettyPrinted: true) + "\n")
    }
}

/// A token signed with the key set's signing key, for operators and tests.
struct AuthToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Sign a token: a user, an agent, or a customer session.")
    @Option(help: "Key set file (env SWITCHBOARD_AUTH_KEYS_FILE).")
    var keys: String?
    @Option(help: "Tenant.")
    var tenant: String = "default"
    @Option(help: "Subject: user id, agent id (kind agent), or customer id (kind customer_session).")
    var subject: String
    @Option(help: "user, agent or customer_session.")
    var kind: String = "user"
    @Option(help: "Space- or comma-separated scopes: chat:send conversations:read hil:agent hil:admin analytics:read admin.")
    var scopes: String = "admin"
    @Option(help: "Lifetime in seconds.")
    var ttl: Int = 3600

    func run() async throws {
        guard let path = keys ?? ProcessInfo.processInfo.environment["SWITCHBOARD_AUTH_KEYS_FILE"], let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("give --keys <file> or set SWITCHBOARD_AUTH_KEYS_FILE")
        }
        guard let kind = PrincipalKind(rawValue: kind), kind != .apiKey else { throw ValidationError("--kind is user, agent or customer_session") }
        guard (1...31 * 86_400).contains(ttl) else { throw ValidationError("--ttl is 1 second to 31 days") }
        let parsed = Scope.parse(scopes.replacingOccurrences(of: ",", with: " "))
        guard !parsed.isEmpty else { throw ValidationError("--scopes names no known scope") }
        let principal = Principal(
            tenantID: tenant, subject: subject, kind: kind, scopes: kind == .customerSession ? [.chatSend] : parsed,
            customerID: kind == .customerSession ? subject : nil)
        writeOut(try TokenIssuer(keySet: try AuthKeySet(jsonData: data)).issue(for: principal, ttl: .seconds(ttl)) + "\n")
    }
}

/// Tenants' API keys in the platform's database: created (the key is printed once), listed,
/// revoked (refused by every replica within 30 s).
struct APIKeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "api-keys", abstract: "Create, list and revoke a tenant's API keys.", subcommands: [Create.self, List.self, Revoke.self])

    struct Connection: ParsableArguments {
        @Option(name: .customLong("database-url"), help: "Postgres URL (env DATABASE_URL).")
        var databaseURL: String?
        @Option(help: "Tenant.")
        var tenant: String = "default"

        func store() async throws -> (APIKeyStore, PostgresPool) {
            let pool = PostgresPool(url: try CLIEnvironment.databaseURL(databaseURL), size: 1, logger: Logger(label: "switchboard.auth"))
            let store = APIKeyStore(pool: pool)
            try await store.migrate(logger: Logger(label: "switchboard.auth"))
            return (store, pool)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key; prints it once (only a salted hash is stored).")
        @OptionGroup var connection: Connection
        @Option(help: "Space- or comma-separated scopes (e.g. chat:send).")
        var scopes: String
        @Option(help: "What the key is for.")
        var label: String = ""

        func run() async throws {
            let parsed = Scope.parse(scopes.replacingOccurrences(of: ",", with: " "))
            guard !parsed.isEmpty else { throw ValidationError("--scopes names no known scope") }
            let (store, pool) = try await connection.store()
            defer { Task { await pool.close() } }
            let (plaintext, record) = try await store.create(tenantID: connection.tenant, scopes: parsed, label: label)
            writeOut("\(plaintext)\n")
            FileHandle.standardError.write(Data("key \(record.keyID) for tenant \(record.tenantID), scopes \(Scope.render(record.scopes)); it is not shown again\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The tenant's keys: id, scopes, label, revoked.")
        @OptionGroup var connection: Connection

        func run() async throws {
            let (store, pool) = try await connection.store()
            defer { Task { await pool.close() } }
            for key in try await store.list(tenantID: connection.tenant) {
                writeOut("\(key.keyID)\t\(Scope.render(key.scopes))\t\(key.revoked ? "revoked" : "active")\t\(key.label)\n")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by its id.")
        @OptionGroup var connection: Connection
        @Argument(help: "The key id (the part after sb_, before the second _).")
        var keyID: String

        func run() async throws {
            let (store, pool) = try await connection.store()
            defer { Task { await pool.close() } }
            guard try await store.revoke(keyID: keyID, tenantID: connection.tenant) else {
                throw ValidationError("no active key \(keyID) in tenant \(connection.tenant)")
            }
            writeOut("revoked \(keyID)\n")
        }
    }
}
