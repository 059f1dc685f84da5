import Foundation
public import Logging
public import Postgres
public import Privacy

/// Per-customer keys for sealing their original words (docs/SECURITY.md). The vault owns the
/// `privacy` schema: the gateway creates a customer's key when it first seals, the executor
/// reads it to open an original for a tool the pack allows, and erasure deletes it, after
/// which nothing sealed under it can ever be read again (crypto-shredding: the log itself
/// stays immutable).
public struct CustomerKeyVault: Sendable {
    public static let schema = "privacy"
    public static let migrations = [
        Migration(version: 1, name: "customer_keys", sql: """
            CREATE TABLE customer_keys (
                tenant_id text NOT NULL,
                customer_id text NOT NULL,
                key_base64 text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (tenant_id, customer_id)
            );
            """),
    ]

    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    public func migrate(logger: Logger) async throws {
        try await Postgres.migrate(pool, schema: Self.schema, migrations: Self.migrations, logger: logger)
    }

    /// What a sealed value names as its key: `<tenant>/<customer>`.
    public static func keyRef(tenant: String, customer: String) -> String { "\(tenant)/\(customer)" }

    /// The customer's key, made on first use. Concurrent first uses agree on one key.
    public func key(tenant: String, customer: String) async throws -> CustomerKey {
        if let key = try await existing(tenant: tenant, customer: customer) { return key }
        let fresh = CustomerKey.generate()
        let encoded = Data(fresh.rawBytes).base64EncodedString()
        try await pool.query("""
            INSERT INTO privacy.customer_keys (tenant_id, customer_id, key_base64) VALUES (\(tenant), \(customer), \(encoded))
            ON CONFLICT (tenant_id, customer_id) DO NOTHING
            """)
        guard let key = try await existing(tenant: tenant, customer: customer) else {
            throw PostgresError(code: .decodeFailed, message: "the customer's key vanished while it was made")
        }
        return key
    }

    /// The customer's key, or nil: never had one, or erased.
    public func existing(tenant: String, customer: String) async throws -> CustomerKey? {
        let rows = try await pool.query("SELECT key_base64 FROM privacy.customer_keys WHERE tenant_id = \(tenant) AND customer_id = \(customer)")
        guard let row = rows.first(where: { _ in true }) else { return nil }
        guard let bytes = Data(base64Encoded: try row.decode("key_base64", as: String.self)) else {
            throw PostgresError(code: .decodeFailed, message: "a stored customer key is not base64")
        }
        return try CustomerKey(rawBytes: Array(bytes))
    }

    /// Destroys the customer's key (true when there was one).
    @discardableResult
    public func destroy(tenant: String, customer: String) async throws -> Bool {
        try await pool.query("DELETE FROM privacy.customer_keys WHERE tenant_id = \(tenant) AND customer_id = \(customer)").affectedRows > 0
    }

    /// Opens `sealed` with the key it names (nil when that key no longer exists).
    public func open(_ sealed: SealedText, context: String) async throws -> String? {
        let parts = sealed.keyRef.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let key = try await existing(tenant: parts[0], customer: parts[1]) else { return nil }
        return try Sealer.open(sealed, key: key, context: context)
    }
}
