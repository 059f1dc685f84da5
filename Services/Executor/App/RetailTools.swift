public import Events
import Foundation
public import JSON
public import Postgres

// The retail pack's native tools over the `commerce` schema (CommerceSchema). Amounts cross
// the tool boundary as numbers in the order's currency (59.9) and are stored as cents. Each
// write checks its own preconditions again (an order that shipped is not cancelled even if a
// rule was left out of the pack), and each can preview its effect for an approver.

/// `get_order`: an order's details, what is left to refund, and its shipping address.
public struct GetOrder: NativeTool {
    public let name = "get_order"
    public var systemOfRecord: SystemOfRecord { CommerceSchema.systemOfRecord }
    public init() {}

    public func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        let orderID = try RetailArgs.string(args, "order_id")
        guard let order = try RetailOrder.load(orderID, tenantID: tenantID, customerID: customerID, in: connection, lock: false) else {
            return .object(["order_id": .string(orderID), "found": .bool(false)])
        }
        return order.json
    }
}

/// `get_invoice`: the invoice of an order, with a link to its PDF.
public struct GetInvoice: NativeTool {
    public let name = "get_invoice"
    public var systemOfRecord: SystemOfRecord { CommerceSchema.systemOfRecord }
    public init() {}

    public func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        let orderID = try RetailArgs.string(args, "order_id")
        let rows = try connection.query("""
            SELECT i.invoice_id, i.amount_cents, i.status, i.issued_at::text AS issued_at, o.currency
            FROM commerce.invoices i JOIN commerce.orders o ON o.tenant_id = i.tenant_id AND o.order_id = i.order_id
            WHERE i.tenant_id = \(tenantID) AND i.order_id = \(orderID) AND (\(customerID ?? "") = '' OR o.customer_id = \(customerID ?? ""))
            ORDER BY i.issued_at DESC, i.invoice_id LIMIT 1
            """)
        guard let row = rows.first(where: { _ in true }) else {
            return .object(["order_id": .string(orderID), "found": .bool(false)])
        }
        let invoiceID = try row.decode("invoice_id", as: String.self)
        return .object([
            "order_id": .string(orderID), "found": .bool(true), "invoice_id": .string(invoiceID),
            "amount": .number(RetailMoney.units(try row.decode("amount_cents", as: Int64.self))),
            "currency": .string(try row.decode("currency", as: String.self)),
            "status": .string(try row.decode("status", as: String.self)),
            "issued_at": .string(try row.decode("issued_at", as: String.self)),
            "pdf_url": .string(RetailLinks.invoicePDF(tenant: tenantID, invoice: invoiceID)),
        ])
    }
}

/// `create_ticket`: a support ticket for follow-up by the team.
public struct CreateTicket: WriteTool {
    public let name = "create_ticket"
    public var systemOfRecord: SystemOfRecord { CommerceSchema.systemOfRecord }
    public init() {}

    public func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        let subject = try RetailArgs.string(args, "subject")
        let body = try RetailArgs.string(args, "body")
        let priority = args["priority"]?.stringValue ?? "normal"
        let rows = try connection.query("""
            INSERT INTO commerce.support_tickets (tenant_id, ticket_id, order_id, subject, body, priority)
            VALUES (\(tenantID), 'T-' || nextval('commerce.support_ticket_numbers'), \(args["order_id"]?.stringValue), \(subject), \(body), \(priority))
            RETURNING ticket_id
            """)
        let ticketID = try rows.first(where: { _ in true })!.decode("ticket_id", as: String.self)
        return .object(["ticket_id": .string(ticketID), "status": "open", "priority": .string(priority)])
    }

    public func preview(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> EffectPreview {
        let subject = try RetailArgs.string(args, "subject")
        return EffectPreview(summary: "Open a \(args["priority"]?.stringValue ?? "normal")-priority ticket: \(subject)", changes: [
            .init(target: "support_tickets/new", field: "subject", before: nil, after: .string(subject)),
            .init(target: "support_tickets/new", field: "body", before: nil, after: args["body"] ?? nil),
        ])
    }
}

/// `create_refund`: refunds part or all of an order; never more than is left to refund.
public struct CreateRefund: WriteTool {
    public let name = "create_refund"
    public var systemOfRecord: SystemOfRecord { CommerceSchema.systemOfRecord }
    public init() {}

    struct Plan {
        var order: RetailOrder
        var cents: Int64
        var reason: String
    }

    func plan(_ args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection, lock: Bool) throws -> Plan {
        let orderID = try RetailArgs.string(args, "order_id")
        guard case .number(let amount)? = args["amount"], let cents = RetailMoney.cents(amount), cents > 0 else {
            throw ToolFailure(code: "invalid_args", message: "amount must be a positive amount with at most two decimals", retriable: false)
        }
        guard let order = try RetailOrder.load(orderID, tenantID: tenantID, customerID: customerID, in: connection, lock: lock) else {
            throw ToolFailure(code: "order_not_found", message: "no order \(orderID)", retriable: false)
        }
        guard order.status != "cancelled" else {
            throw ToolFailure(code: "order_cancelled", message: "order \(orderID) is cancelled", retriable: false)
        }
        guard cents <= order.refundableCents else {
            throw ToolFailure(code: "refund_exceeds_refundable", message: "only \(RetailMoney.text(order.refundableCents, order.currency)) of \(orderID) is left to refund", retriable: false)
        }
        return Plan(order: order, cents: cents, reason: args["reason"]?.stringValue ?? "customer request")
    }

    public func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        let plan = try plan(args, tenantID: tenantID, customerID: customerID, in: connection, lock: true)
        let rows = try connection.query("""
            WITH refunded AS (
                UPDATE commerce.orders SET refunded_cents = refunded_cents + \(plan.cents)
                WHERE tenant_id = \(tenantID) AND order_id = \(plan.order.orderID)
                RETURNING refunded_cents
            )
            INSERT INTO commerce.refunds (tenant_id, refund_id, order_id, amount_cents, reason)
            SELECT \(tenantID), 'R-' || nextval('commerce.refund_numbers'), \(plan.order.orderID), \(plan.cents), \(plan.reason) FROM refunded
            RETURNING refund_id
            """)
        let refundID = try rows.first(where: { _ in true })!.decode("refund_id", as: String.self)
        return .object([
            "refund_id": .string(refundID), "order_id": .string(plan.order.orderID),
            "amount": .number(RetailMoney.units(plan.cents)), "amount_text": .string(RetailMoney.text(plan.cents, plan.order.currency)),
            "currency": .string(plan.order.currency), "refunded_total": .number(RetailMoney.units(plan.order.refundedCents + plan.cents)),
        ])
    }

    public func preview(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> EffectPreview {
        let plan = try plan(args, tenantID: tenantID, customerID: customerID, in: connection, lock: false)
        let order = plan.order
        return EffectPreview(
            summary: "Refund \(RetailMoney.text(plan.cents, order.currency)) of order \(order.orderID) (total \(RetailMoney.text(order.totalCents, order.currency)), refunded so far \(RetailMoney.text(order.refundedCents, order.currency)))",
            changes: [
                .init(target: "orders/\(order.orderID)", field: "refunded", before: .number(RetailMoney.units(order.refundedCents)), after: .number(RetailMoney.units(order.refundedCents + plan.cents))),
                .init(target: "refunds/new", field: "amount", before: nil, after: .number(RetailMoney.units(plan.cents))),
                .init(target: "refunds/new", field: "reason", before: nil, after: .string(plan.reason)),
            ])
    }
}

/// `cancel_order`: only an order that has not shipped.
public struct CancelOrder: WriteTool {
    public let name = "cancel_order"
    public var systemOfRecord: SystemOfRecord { CommerceSchema.systemOfRecord }
    public init() {}

    func cancellable(_ args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection, lock: Bool) throws -> RetailOrder {
        let orderID = try RetailArgs.string(args, "order_id")
        guard let order = try RetailOrder.load(orderID, tenantID: tenantID, customerID: customerID, in: connection, lock: lock) else {
            throw ToolFailure(code: "order_not_found", message: "no order \(orderID)", retriable: false)
        }
        guard order.status == "processing" else {
            throw ToolFailure(code: "not_cancellable", message: "order \(orderID) is \(order.status); only orders that have not shipped can be cancelled", retriable: false)
        }
        return order
    }

    public func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        let order = try cancellable(args, tenantID: tenantID, customerID: customerID, in: connection, lock: true)
        try connection.query("UPDATE commerce.orders SET status = 'cancelled' WHERE tenant_id = \(tenantID) AND order_id = \(order.orderID)")
        return .object(["order_id": .string(order.orderID), "status": "cancelled", "previous_status": .string(order.status)])
    }

    public func preview(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> EffectPreview {
        let order = try cancellable(args, tenantID: tenantID, customerID: customerID, in: connection, lock: false)
        return EffectPreview(summary: "Cancel order \(order.orderID) (\(RetailMoney.text(order.totalCents, order.currency)))", changes: [
            .init(target: "orders/\(order.orderID)", field: "status", before: .string(order.status), after: "cancelled"),
        ])
    }
}

/// `update_shipping_address`: only before the order ships.
public struct UpdateShippingAddress: WriteTool {
    public let name = "update_shipping_address"
    public var systemOfRecord: SystemOfRecord { CommerceSchema.systemOfRecord }
    public init() {}

    func change(_ args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection, lock: Bool) throws -> (RetailOrder, String) {
        let orderID = try RetailArgs.string(args, "order_id")
        let address = try RetailArgs.string(args, "address").trimmingCharacters(in: .whitespacesAndNewlines)
        guard let order = try RetailOrder.load(orderID, tenantID: tenantID, customerID: customerID, in: connection, lock: lock) else {
            throw ToolFailure(code: "order_not_found", message: "no order \(orderID)", retriable: false)
        }
        guard order.status == "processing" else {
            throw ToolFailure(code: "already_shipped", message: "order \(orderID) is \(order.status); the address can only change before it ships", retriable: false)
        }
        return (order, address)
    }

    public func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        let (order, address) = try change(args, tenantID: tenantID, customerID: customerID, in: connection, lock: true)
        try connection.query("UPDATE commerce.orders SET shipping_address = \(address) WHERE tenant_id = \(tenantID) AND order_id = \(order.orderID)")
        return .object(["order_id": .string(order.orderID), "shipping_address": .string(address), "previous_address": .string(order.shippingAddress)])
    }

    public func preview(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> EffectPreview {
        let (order, address) = try change(args, tenantID: tenantID, customerID: customerID, in: connection, lock: false)
        return EffectPreview(summary: "Ship order \(order.orderID) to a new address", changes: [
            .init(target: "orders/\(order.orderID)", field: "shipping_address", before: .string(order.shippingAddress), after: .string(address)),
        ])
    }
}

/// `send_email`: queues an email to the order's customer in the outbox (a mailer, not the
/// executor, sends it: the effect recorded here is the queued message).
public struct SendEmail: WriteTool {
    public let name = "send_email"
    public var systemOfRecord: SystemOfRecord { CommerceSchema.systemOfRecord }
    public init() {}

    func recipient(_ args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> (orderID: String, email: String) {
        let orderID = try RetailArgs.string(args, "order_id")
        let rows = try connection.query("""
            SELECT c.email FROM commerce.orders o JOIN commerce.customers c ON c.tenant_id = o.tenant_id AND c.customer_id = o.customer_id
            WHERE o.tenant_id = \(tenantID) AND o.order_id = \(orderID) AND (\(customerID ?? "") = '' OR o.customer_id = \(customerID ?? ""))
            """)
        guard let row = rows.first(where: { _ in true }) else {
            throw ToolFailure(code: "order_not_found", message: "no order \(orderID)", retriable: false)
        }
        return (orderID, try row.decode("email", as: String.self))
    }

    public func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        let (orderID, email) = try recipient(args, tenantID: tenantID, customerID: customerID, in: connection)
        let subject = try RetailArgs.string(args, "subject")
        let rows = try connection.query("""
            INSERT INTO commerce.email_outbox (tenant_id, email_id, order_id, to_address, subject, body)
            VALUES (\(tenantID), 'E-' || nextval('commerce.email_numbers'), \(orderID), \(email), \(subject), \(try RetailArgs.string(args, "body")))
            RETURNING email_id
            """)
        return .object([
            "email_id": .string(try rows.first(where: { _ in true })!.decode("email_id", as: String.self)),
            "order_id": .string(orderID), "status": "queued", "to": .string(RetailLinks.masked(email)),
        ])
    }

    public func preview(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> EffectPreview {
        let (orderID, email) = try recipient(args, tenantID: tenantID, customerID: customerID, in: connection)
        return EffectPreview(summary: "Email the customer of order \(orderID) at \(RetailLinks.masked(email))", changes: [
            .init(target: "email_outbox/new", field: "subject", before: nil, after: args["subject"] ?? nil),
            .init(target: "email_outbox/new", field: "body", before: nil, after: args["body"] ?? nil),
        ])
    }
}

/// An order row as the retail tools see it.
struct RetailOrder {
    var orderID: String
    var customerID: String
    var status: String
    var placedAt: String
    var totalCents: Int64
    var refundedCents: Int64
    var currency: String
    var shippingAddress: String
    var carrier: String?
    var trackingNumber: String?

    var refundableCents: Int64 { max(0, totalCents - refundedCents) }

    /// The order, or nil when there is none, or when `customerID` is set and the order is
    /// another customer's: a conversation's tools see only its own customer's orders, and
    /// another's is indistinguishable from one that does not exist.
    static func load(_ orderID: String, tenantID: String, customerID: String?, in connection: PostgresConnection, lock: Bool) throws -> RetailOrder? {
        let rows = lock
            ? try connection.query("""
                SELECT o.order_id, o.customer_id, o.status, o.placed_at::text AS placed_at, o.total_cents, o.refunded_cents, o.currency,
                       o.shipping_address, NULL::text AS carrier, NULL::text AS tracking_number
                FROM commerce.orders o WHERE o.tenant_id = \(tenantID) AND o.order_id = \(orderID) FOR UPDATE
                """)
            : try connection.query("""
                SELECT o.order_id, o.customer_id, o.status, o.placed_at::text AS placed_at, o.total_cents, o.refunded_cents, o.currency,
                       o.shipping_address, s.carrier, s.tracking_number
                FROM commerce.orders o LEFT JOIN commerce.shipments s ON s.tenant_id = o.tenant_id AND s.order_id = o.order_id
                WHERE o.tenant_id = \(tenantID) AND o.order_id = \(orderID)
                """)
        guard let row = rows.first(where: { _ in true }) else { return nil }
        if let customerID, try row.decode("customer_id", as: String.self) != customerID { return nil }
        return RetailOrder(
            orderID: orderID, customerID: try row.decode("customer_id", as: String.self), status: try row.decode("status", as: String.self),
            placedAt: try row.decode("placed_at", as: String.self), totalCents: try row.decode("total_cents", as: Int64.self),
            refundedCents: try row.decode("refunded_cents", as: Int64.self), currency: try row.decode("currency", as: String.self),
            shippingAddress: try row.decode("shipping_address", as: String.self),
            carrier: try row.decode("carrier", as: String?.self), trackingNumber: try row.decode("tracking_number", as: String?.self))
    }

    var json: JSONValue {
        .object([
            "order_id": .string(orderID), "found": .bool(true), "status": .string(status), "placed_at": .string(placedAt),
            "total": .number(RetailMoney.units(totalCents)), "refunded": .number(RetailMoney.units(refundedCents)),
            "refundable": .number(RetailMoney.units(refundableCents)), "currency": .string(currency),
            "shipping_address": .string(shippingAddress),
            "carrier": carrier.map(JSONValue.string) ?? .null, "tracking_number": trackingNumber.map(JSONValue.string) ?? .null,
        ])
    }
}

enum RetailArgs {
    static func string(_ args: JSONValue, _ name: String) throws -> String {
        guard case .string(let value)? = args[name], !value.isEmpty else {
            throw ToolFailure(code: "invalid_args", message: "\(name) missing", retriable: false)
        }
        return value
    }
}

enum RetailMoney {
    static func units(_ cents: Int64) -> Double { Double(cents) / 100 }

    /// An amount with at most two decimals as exact cents; nil otherwise.
    static func cents(_ amount: Double) -> Int64? {
        let cents = (amount * 100).rounded()
        guard abs(cents - amount * 100) < 1e-6, cents.magnitude < 1e12 else { return nil }
        return Int64(cents)
    }

    static func text(_ cents: Int64, _ currency: String) -> String {
        "\(currency) \(cents / 100).\(String(format: "%02lld", cents % 100))"
    }
}

enum RetailLinks {
    static func invoicePDF(tenant: String, invoice: String) -> String { "https://shop.example/\(tenant)/invoices/\(invoice).pdf" }

    /// a***@example.com: enough for the customer to recognise, not to harvest.
    static func masked(_ email: String) -> String {
        guard let at = email.firstIndex(of: "@"), at > email.startIndex else { return "***" }
        return String(email[email.startIndex]) + "***" + String(email[at...])
    }
}
