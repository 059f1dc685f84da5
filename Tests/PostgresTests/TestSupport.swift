import Foundation
import Logging
import Postgres
import Testing

/// Shared plumbing: every test reads DATABASE_URL (failing loudly without it) and works in
/// its own uniquely named tables/schemas, because Swift Testing runs tests in parallel.
enum TestDB {
    static func url() throws -> String {
        try #require(
            ProcessInfo.processInfo.environment["DATABASE_URL"],
            "DATABASE_URL is not set: run scripts/pg-test.sh, or export postgres://user@127.0.0.1:55441/dbname")
    }

    static let logger: Logger = {
        var logger = Logger(label: "postgres-tests")
        logger.logLevel = .warning
        return logger
    }()

    static func uniqueName(_ prefix: String) -> String {
        prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
    }

    static func makePool(size: Int = 2, applicationName: String? = nil, acquireTimeout: Duration? = nil) throws
        -> PostgresPool
    {
        PostgresPool(
            url: try url(), size: size, applicationName: applicationName, acquireTimeout: acquireTimeout, logger: logger)
    }

    /// A pool closed afterwards whatever happens.
    static func withPool<T>(
        size: Int = 2, applicationName: String? = nil, _ body: (PostgresPool) async throws -> T
    ) async throws -> T {
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

    /// A fresh schema, dropped afterwards.
    static func withSchema<T>(_ pool: PostgresPool, _ body: (String) async throws -> T) async throws -> T {
        let schema = uniqueName("s")
        try await pool.query("CREATE SCHEMA \(identifier: schema)")
        do {
            let result = try await body(schema)
            try await pool.query("DROP SCHEMA \(identifier: schema) CASCADE")
            return result
        } catch {
            _ = try? await pool.query("DROP SCHEMA \(identifier: schema) CASCADE")
            throw error
        }
    }
}
