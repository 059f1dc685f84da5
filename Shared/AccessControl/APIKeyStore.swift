public import Auth
import Foundation
import Synchronization
import Logging
public import Postgres

/// API keys of server-to-server clients (a tenant's backend): records hold only a salted
/// HMAC of the secret. The store owns the `access` schema; the gateway and HILQueue read it,
/// `switchboard auth api-keys` writes it. Lookups are cached for 30 s, so a revocation takes
/// effect on every replica within that.
public final class APIKeyStore: Sendable {
    public static let schema = "access"
    public static let migrations = [
        Migration(version: 1, name: "api_keys", sql: """
            CREATE TABLE api_keys (
                key_id text PRIMARY KEY,
                tenant_id text NOT NULL,
                scopes text NOT NULL,
                salt text NOT NULL,
                hash text NOT NULL,
                label text NOT NULL DEFAULT '',
                created_at timestamptz NOT NULL DEFAULT now(),
                revoked_at timestamptz
            );
            CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);
            """),
    ]
    static let cacheTTL: Duration = .seconds(30)

    let pool: PostgresPool
    private let cache = Mutex<[String: (record: APIKeyRecord?, at: ContinuousClock.Instant)]>([:])

    public init(pool: PostgresPool) { self.pool = pool }

    public func migrate(logger: Logger) async throws {
        try await Postgres.migrate(pool, schema: Self.schema, migrations: Self.migrations, logger: logger)
    }

    /// The record stored under `keyID` (nil: no such key), at most 30 s old.
    public func record(_ keyID: String) async throws -> APIKeyRecord? {
        if let cached = cache.withLock({ $0[keyID] }), ContinuousClock.now - cached.at < Self.cacheTTL { return cached.record }
        let rows = try await pool.query("""
            SELECT key_id, tenant_id, scopes, salt, hash, extract(epoch FROM created_at)::float8 AS created, extract(epoch FROM revoked_at)::float8 AS revoked
            FROM access.api_keys WHERE key_id = \(keyID)
            """)
        let record = try rows.first(where: { _ in true }).map { row in
            APIKeyRecord(
                keyID: try row.decode("key_id"), tenantID: try row.decode("tenant_id"), scopes: Scope.parse(try row.decode("scopes", as: String.self)),
                salt: try row.decode("salt"), hash: try row.decode("hash"), createdAt: Date(timeIntervalSince1970: try row.decode("created")),
                revokedAt: try row.decode("revoked", as: Double?.self).map(Date.init(timeIntervalSince1970:)))
        }
        cache.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[keyID] = (record, .now)
        }
        return record
    }

    /// Creates a key; the plaintext is returned once and never stored.
    public func create(tenantID: String, scopes: Set<Scope>, label: String = "") async throws -> (plaintext: String, record: APIKeyRecord) {
        let (plaintext, record) = APIKey.generate(tenantID: tenantID, scopes: scopes)
        try await pool.query("""
            INSERT INTO access.api_keys (key_id, tenant_id, scopes, salt, hash, label)
            VALUES (\(record.keyID), \(record.tenantID), \(Scope.render(record.scopes)), \(record.salt), \(record.hash), \(label))
            """)
        return (plaintext, record)
    }

    /// Revokes a key of `tenantID`; false when there is no such key.
    public func revoke(keyID: String, tenantID: String) async throws -> Bool {
        let result = try await pool.query("UPDATE access.api_keys SET revoked_at = now() WHERE key_id = \(keyID) AND tenant_id = \(tenantID) AND revoked_at IS NULL")
        cache.withLock { _ = $0.removeValue(forKey: keyID) }
        return result.affectedRows > 0
    }

    public struct Listed: Sendable {
        public var keyID: String
        public var scopes: Set<Scope>
        public var label: String
        public var revoked: Bool
    }

    public func list(tenantID: String) async throws -> [Listed] {
        try await pool.query("SELECT key_id, scopes, label, revoked_at IS NOT NULL AS revoked FROM access.api_keys WHERE tenant_id = \(tenantID) ORDER BY created_at").map { row in
            Listed(keyID: try row.decode("key_id"), scopes: Scope.parse(try row.decode("scopes", as: String.self)), label: try row.decode("label"), revoked: try row.decode("revoked"))
        }
    }
}
