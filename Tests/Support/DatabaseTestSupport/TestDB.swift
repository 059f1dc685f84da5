import Foundation
public import Logging
public import Postgres

/// The one way tests reach Postgres: `DATABASE_URL` (set by `make test`, which starts a
/// throwaway server), and scratch schemas or databases that are dropped afterwards. Every test
/// gets its own, because Swift Testing runs tests in parallel.
///
/// A library target rather than a test target, so every test target can depend on it; it uses
/// no Swift Testing API, so an unset URL is a thrown error that fails the test naming the cause.
public enum TestDB {
    public static let urlVariable = "DATABASE_URL"

    public struct MissingDatabaseURL: Error, CustomStringConvertible {
        public var description: String {
            "\(TestDB.urlVariable) is not set: run `make test` (it starts Postgres), or start one with "
                + "`scripts/postgres.sh start $(pwd)/.run/pg 55450` and export the DATABASE_URL line it prints"
        }
    }

    /// The test server's URL; throws when the tests were started without one, so a test
    /// needing Postgres fails instead of passing without having run.
    public static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment[urlVariable], !url.isEmpty else { throw MissingDatabaseURL() }
        return url
    }

    public static let logger: Logger = {
        var logger = Logger(label: "database-tests")
        logger.logLevel = .warning
        return logger
    }()

    /// `prefix_` and 12 hex digits: a valid, unquoted-safe identifier.
    public static func uniqueName(_ prefix: String) -> String {
        prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
    }

    public static func makePool(size: Int = 2, applicationName: String? = nil, acquireTimeout: Duration? = nil) throws -> PostgresPool {
        PostgresPool(url: try url(), size: size, applicationName: applicationName, acquireTimeout: acquireTimeout, logger: logger)
    }

    /// A pool closed afterwards whatever happens.
    public static func withPool<T>(size: Int = 2, applicationName: String? = nil, _ body: (PostgresPool) async throws -> T) async throws -> T {
        let pool = try makePool(size: size, applicationName: applicationName)
        do {
            let result = try await body(pool)
            await pool.close()
            return result
        } catch {
            await pool.close()
            throw error
        }
    }

    /// A fresh schema (with `migrations` applied, when given), dropped afterwards whatever happens.
    public static func withSchema<T>(
        _ pool: PostgresPool, prefix: String = "s", migrations: [Migration] = [], _ body: (String) async throws -> T
    ) async throws -> T {
        let schema = uniqueName(prefix)
        do {
            if migrations.isEmpty {
                try await pool.query("CREATE SCHEMA \(identifier: schema)")
            } else {
                try await migrate(pool, schema: schema, migrations: migrations, logger: logger)
            }
            let result = try await body(schema)
            try await dropSchema(schema, pool)
            return result
        } catch {
            try? await dropSchema(schema, pool)
            throw error
        }
    }

    public static func dropSchema(_ schema: String, _ pool: PostgresPool) async throws {
        try await pool.query("DROP SCHEMA IF EXISTS \(identifier: schema) CASCADE")
    }
}

/// A database of its own on the test server, for tests that run whole services (which use
/// fixed schema names) or need database-wide state. `drop()` removes it, ending its sessions.
public struct ScratchDatabase: Sendable {
    public let name: String
    /// The URL of the scratch database.
    public let url: String
    /// The test server's URL, from which it was created and is dropped.
    public let adminURL: String

    /// `adminURL`: another server than the test server (a test's own cluster).
    public static func create(_ prefix: String, adminURL: String? = nil) async throws -> ScratchDatabase {
        let adminURL = try adminURL ?? TestDB.url()
        let name = TestDB.uniqueName(prefix)
        try await withAdmin(adminURL) { try $0.execute(simple: "CREATE DATABASE \(try PostgresQuery.quotedIdentifier(name))") }
        // The database name is the URL's last path segment.
        let url = adminURL.replacingOccurrences(of: #"/[^/]*$"#, with: "/\(name)", options: .regularExpression)
        return ScratchDatabase(name: name, url: url, adminURL: adminURL)
    }

    public func drop() async throws {
        let quoted = try PostgresQuery.quotedIdentifier(name)
        try await Self.withAdmin(adminURL) { try $0.execute(simple: "DROP DATABASE IF EXISTS \(quoted) WITH (FORCE)") }
    }

    private static func withAdmin(_ url: String, _ body: @Sendable (PostgresConnection) throws -> Void) async throws {
        let admin = PostgresPool(url: url, size: 1, logger: TestDB.logger)
        do {
            try await admin.withConnection(body)
            await admin.close()
        } catch {
            await admin.close()
            throw error
        }
    }
}
