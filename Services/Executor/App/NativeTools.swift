public import Events
import Foundation
public import JSON
public import Postgres

/// A schema of the demo system of record that native tools act on: its tables (migrated when a
/// loaded pack offers one of its tools) and demo rows (only for a demo stack).
public struct SystemOfRecord: Sendable, Hashable {
    public let name: String
    public let migrations: [Migration]
    /// Idempotent SQL over the schema's unqualified table names.
    public let demoData: String

    public static func == (a: SystemOfRecord, b: SystemOfRecord) -> Bool { a.name == b.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    /// Inserts the demo rows (existing ones are kept).
    public func seedDemoData(_ pool: PostgresPool) async throws {
        let (schema, sql) = (name, demoData)
        try await pool.transaction { connection in
            try connection.query("SELECT set_config('search_path', \(schema), true)")
            try connection.execute(simple: sql)
        }
    }
}

/// A tool implemented in the executor. It runs inside the transaction that records the step,
/// so a tool writing to the same database takes effect exactly once with that record.
public protocol NativeTool: Sendable {
    var name: String { get }
    /// The schema it reads and writes.
    var systemOfRecord: SystemOfRecord { get }
    func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue
}

/// A native tool that changes data: it can also say what it would change without changing it
/// (the dry run shown to an approver). `preview` runs in a read-only transaction, so a preview
/// that tried to write would fail rather than act.
public protocol WriteTool: NativeTool {
    func preview(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> EffectPreview
}

/// A tool-level failure the customer can be told about (as opposed to infrastructure errors,
/// which are retried).
public struct ToolFailure: Error, Sendable {
    public var code: String
    public var message: String
    public var retriable: Bool
}

/// `get_order_status`: order, carrier, tracking number. An unknown order is a result
/// (`found: false`), not a failure, so the reply can say so truthfully.
public struct GetOrderStatus: NativeTool {
    public let name = "get_order_status"
    public var systemOfRecord: SystemOfRecord { CommerceSchema.systemOfRecord }
    public init() {}

    public func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        guard case .string(let orderID)? = args["order_id"] else {
            throw ToolFailure(code: "invalid_args", message: "order_id missing", retriable: false)
        }
        let rows = try connection.query("""
            SELECT o.order_id, o.status, o.placed_at::text AS placed_at, o.total_cents, o.currency,
                   s.carrier, s.tracking_number, s.estimated_delivery::text AS estimated_delivery
            FROM commerce.orders o
            LEFT JOIN commerce.shipments s ON s.tenant_id = o.tenant_id AND s.order_id = o.order_id
            WHERE o.tenant_id = \(tenantID) AND o.order_id = \(orderID) AND (\(customerID ?? "") = '' OR o.customer_id = \(customerID ?? ""))
            """)
        // Another customer's order is not found: a conversation sees only its customer's.
        guard let row = rows.first(where: { _ in true }) else {
            return .object(["order_id": .string(orderID), "found": .bool(false)])
        }
        let cents = try row.decode("total_cents", as: Int64.self)
        func optional(_ column: String) throws -> JSONValue {
            try row.decode(column, as: String?.self).map(JSONValue.string) ?? .null
        }
        return .object([
            "order_id": .string(orderID),
            "found": .bool(true),
            "status": .string(try row.decode("status", as: String.self)),
            "placed_at": .string(try row.decode("placed_at", as: String.self)),
            "total": .string("\(try row.decode("currency", as: String.self)) \(cents / 100).\(String(format: "%02lld", cents % 100))"),
            "carrier": try optional("carrier"),
            "tracking_number": try optional("tracking_number"),
            "estimated_delivery": try optional("estimated_delivery"),
        ])
    }
}
