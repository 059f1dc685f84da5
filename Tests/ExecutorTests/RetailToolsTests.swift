import DatabaseTestSupport
import DomainPack
import Events
@testable import ExecutorApp
import Foundation
import JSON
import Knowledge
import Postgres
import Testing

/// The retail pack's tools on a real `commerce` schema: each tenant-scoped test works on a
/// private copy of the demo orders, so writes never disturb other tests.
enum CommerceDB {
    static func withTenant<T>(_ body: (PostgresPool, String) async throws -> T) async throws -> T {
        try await ExecutorDB.withPool { pool in
            let record = CommerceSchema.systemOfRecord
            try await migrate(pool, schema: record.name, migrations: record.migrations, logger: ExecutorDB.logger)
            try await record.seedDemoData(pool)
            let tenant = TestDB.uniqueName("r")
            try await pool.transaction { connection in
                try connection.query("INSERT INTO commerce.customers SELECT \(tenant), customer_id, name, email FROM commerce.customers WHERE tenant_id = 'default'")
                try connection.query("""
                    INSERT INTO commerce.orders (tenant_id, order_id, customer_id, status, placed_at, total_cents, currency, refunded_cents, shipping_address)
                    SELECT \(tenant), order_id, customer_id, status, placed_at, total_cents, currency, 0, shipping_address FROM commerce.orders WHERE tenant_id = 'default'
                    """)
                try connection.query("INSERT INTO commerce.shipments SELECT \(tenant), order_id, carrier, tracking_number, shipped_at, estimated_delivery, delivered_at FROM commerce.shipments WHERE tenant_id = 'default'")
                try connection.query("INSERT INTO commerce.invoices SELECT \(tenant), invoice_id, order_id, amount_cents, status, issued_at FROM commerce.invoices WHERE tenant_id = 'default'")
            }
            func cleanUp() async throws {
                try await pool.transaction { connection in
                    for table in ["refunds", "support_tickets", "email_outbox", "invoices", "shipments", "orders", "customers"] {
                        try connection.query("DELETE FROM commerce.\(identifier: table) WHERE tenant_id = \(tenant)")
                    }
                }
            }
            do {
                let result = try await body(pool, tenant)
                try await cleanUp()
                return result
            } catch {
                try? await cleanUp()
                throw error
            }
        }
    }

    static func run(_ tool: any NativeTool, _ args: JSONValue, tenant: String, customer: String? = nil, _ pool: PostgresPool) async throws -> JSONValue {
        try await pool.transaction { try tool.run(args: args, tenantID: tenant, customerID: customer, in: $0) }
    }

    static func preview(_ tool: any WriteTool, _ args: JSONValue, tenant: String, customer: String? = nil, _ pool: PostgresPool) async throws -> EffectPreview {
        try await pool.transaction { connection in
            try connection.execute(simple: "SET TRANSACTION READ ONLY")
            return try tool.preview(args: args, tenantID: tenant, customerID: customer, in: connection)
        }
    }

    static func order(_ id: String, tenant: String, _ pool: PostgresPool) async throws -> (status: String, refundedCents: Int64, address: String) {
        let row = try #require(try await pool.query("SELECT status, refunded_cents, shipping_address FROM commerce.orders WHERE tenant_id = \(tenant) AND order_id = \(id)").first)
        return (try row.decode("status"), try row.decode("refunded_cents"), try row.decode("shipping_address"))
    }

    static func count(_ table: String, tenant: String, _ pool: PostgresPool) async throws -> Int {
        try #require(try await pool.query("SELECT count(*)::int AS n FROM commerce.\(identifier: table) WHERE tenant_id = \(tenant)").first).decode("n", as: Int.self)
    }
}

@Suite struct RetailToolsTests {
    /// A conversation's tools see only its customer's orders: another customer's order reads as
    /// one that does not exist, and no write reaches it (docs/SECURITY.md).
    @Test func anotherCustomersOrderIsNotFoundAndNotChanged() async throws {
        try await CommerceDB.withTenant { pool, tenant in
            for tool in [GetOrderStatus() as any NativeTool, GetOrder(), GetInvoice()] {
                let other = try await CommerceDB.run(tool, ["order_id": "ABC123"], tenant: tenant, customer: "cus_1002", pool)
                #expect(other == ["order_id": "ABC123", "found": false], "\(tool.name)")
                let own = try await CommerceDB.run(tool, ["order_id": "ABC123"], tenant: tenant, customer: "cus_1001", pool)
                #expect(own["found"] == true, "\(tool.name)")
            }
            let writes: [(any WriteTool, JSONValue)] = [
                (CancelOrder(), ["order_id": "DEF456"]), (CreateRefund(), ["order_id": "DEF456", "amount": 5]),
                (UpdateShippingAddress(), ["order_id": "DEF456", "address": "1 Evil Street, London E1 1AA"]),
                (SendEmail(), ["order_id": "DEF456", "subject": "hi", "body": "your invoice"]),
            ]
            for (tool, args) in writes {
                await #expect(throws: ToolFailure.self, "\(tool.name) of another customer's order") {
                    _ = try await CommerceDB.run(tool, args, tenant: tenant, customer: "cus_1002", pool)
                }
                await #expect(throws: ToolFailure.self, "\(tool.name) preview") {
                    _ = try await CommerceDB.preview(tool, args, tenant: tenant, customer: "cus_1002", pool)
                }
            }
            let order = try await CommerceDB.order("DEF456", tenant: tenant, pool)
            #expect(order.status == "processing" && order.refundedCents == 0 && order.address == "221B Baker Street, London NW1 6XE")
            #expect(try await CommerceDB.count("email_outbox", tenant: tenant, pool) == 0)
        }
    }

    @Test func getOrderAndInvoiceReadTheOrder() async throws {
        try await CommerceDB.withTenant { pool, tenant in
            let order = try await CommerceDB.run(GetOrder(), ["order_id": "DEF456"], tenant: tenant, pool)
            #expect(order["status"] == "processing" && order["total"] == 129 && order["refundable"] == 129 && order["currency"] == "USD")
            #expect(order["shipping_address"] == "221B Baker Street, London NW1 6XE")
            try expectValidResult(order, tool: "get_order", pack: retailPack)
            let shipped = try await CommerceDB.run(GetOrder(), ["order_id": "ABC123"], tenant: tenant, pool)
            #expect(shipped["carrier"] == "UPS" && shipped["tracking_number"] == "1Z999AA10123456784")
            #expect(try await CommerceDB.run(GetOrder(), ["order_id": "ZZZ999"], tenant: tenant, pool) == ["order_id": "ZZZ999", "found": false])

            let invoice = try await CommerceDB.run(GetInvoice(), ["order_id": "ABC123"], tenant: tenant, pool)
            #expect(invoice["invoice_id"] == "INV-5001" && invoice["amount"] == 59.9 && invoice["status"] == "paid")
            #expect(invoice["pdf_url"] == .string("https://shop.example/\(tenant)/invoices/INV-5001.pdf"))
            try expectValidResult(invoice, tool: "get_invoice", pack: retailPack)
            #expect(try await CommerceDB.run(GetInvoice(), ["order_id": "ZZZ999"], tenant: tenant, pool)["found"] == false)
        }
    }

    /// A refund's preview shows the change and changes nothing; running it changes exactly that,
    /// and the tool refuses more than is left to refund even if a pack forgot the rule.
    @Test func refundPreviewThenRunThenRefuseTheRest() async throws {
        try await CommerceDB.withTenant { pool, tenant in
            let preview = try await CommerceDB.preview(CreateRefund(), ["order_id": "DEF456", "amount": 80], tenant: tenant, pool)
            #expect(preview.summary.contains("USD 80.00") && preview.summary.contains("DEF456"))
            #expect(preview.changes.first == .init(target: "orders/DEF456", field: "refunded", before: 0, after: 80))
            #expect(try await CommerceDB.order("DEF456", tenant: tenant, pool).refundedCents == 0, "a preview changes nothing")
            #expect(try await CommerceDB.count("refunds", tenant: tenant, pool) == 0)

            let refund = try await CommerceDB.run(CreateRefund(), ["order_id": "DEF456", "amount": 80, "reason": "late"], tenant: tenant, pool)
            #expect(refund["amount"] == 80 && refund["amount_text"] == "USD 80.00" && refund["refunded_total"] == 80)
            try expectValidResult(refund, tool: "create_refund", pack: retailPack)
            #expect(try await CommerceDB.order("DEF456", tenant: tenant, pool).refundedCents == 8000)

            await #expect(throws: ToolFailure.self) { _ = try await CommerceDB.run(CreateRefund(), ["order_id": "DEF456", "amount": 49.01], tenant: tenant, pool) }
            let rest = try await CommerceDB.run(CreateRefund(), ["order_id": "DEF456", "amount": 49], tenant: tenant, pool)
            #expect(rest["refunded_total"] == 129)
            #expect(try await CommerceDB.count("refunds", tenant: tenant, pool) == 2)
            await #expect(throws: ToolFailure.self) { _ = try await CommerceDB.run(CreateRefund(), ["order_id": "JKL012", "amount": 1], tenant: tenant, pool) }
            await #expect(throws: ToolFailure.self) { _ = try await CommerceDB.run(CreateRefund(), ["order_id": "DEF456", "amount": 0.001], tenant: tenant, pool) }
        }
    }

    @Test func cancelAndAddressChangeOnlyBeforeShipment() async throws {
        try await CommerceDB.withTenant { pool, tenant in
            let preview = try await CommerceDB.preview(UpdateShippingAddress(), ["order_id": "DEF456", "address": "1 New Road, Leeds LS1 1AA"], tenant: tenant, pool)
            #expect(preview.changes == [.init(target: "orders/DEF456", field: "shipping_address", before: "221B Baker Street, London NW1 6XE", after: "1 New Road, Leeds LS1 1AA")])
            let moved = try await CommerceDB.run(UpdateShippingAddress(), ["order_id": "DEF456", "address": "1 New Road, Leeds LS1 1AA"], tenant: tenant, pool)
            #expect(moved["shipping_address"] == "1 New Road, Leeds LS1 1AA")
            #expect(try await CommerceDB.order("DEF456", tenant: tenant, pool).address == "1 New Road, Leeds LS1 1AA")

            let cancelPreview = try await CommerceDB.preview(CancelOrder(), ["order_id": "DEF456"], tenant: tenant, pool)
            #expect(cancelPreview.changes == [.init(target: "orders/DEF456", field: "status", before: "processing", after: "cancelled")])
            let cancelled = try await CommerceDB.run(CancelOrder(), ["order_id": "DEF456"], tenant: tenant, pool)
            #expect(cancelled["status"] == "cancelled")
            try expectValidResult(cancelled, tool: "cancel_order", pack: retailPack)
            #expect(try await CommerceDB.order("DEF456", tenant: tenant, pool).status == "cancelled")

            for tool: any WriteTool in [CancelOrder(), UpdateShippingAddress()] {
                let args: JSONValue = ["order_id": "ABC123", "address": "1 New Road, Leeds LS1 1AA"]
                let error = await #expect(throws: ToolFailure.self) { _ = try await CommerceDB.preview(tool, args, tenant: tenant, pool) }
                #expect(["not_cancellable", "already_shipped"].contains(error?.code ?? ""), "\(tool.name)")
            }
            #expect(try await CommerceDB.order("ABC123", tenant: tenant, pool).status == "shipped")
        }
    }

    /// A step whose turn's wall time is already spent fails without touching the system of record.
    @Test func aStepPastItsDeadlineDoesNotRun() async throws {
        try await CommerceDB.withTenant { pool, tenant in
            let published = Published()
            let reactor = ExecutorReactor(
                pack: retailPack, tools: ExecutorService.nativeTools(for: retailPack, logger: ExecutorDB.logger), pool: pool,
                producer: "executor@test", logger: ExecutorDB.logger, publish: { published.append($0) })
            try await reactor.handle(try EventEnvelope.start(
                StepApproved(planID: UUID(), stepID: UUID(), tool: "cancel_order", args: ["order_id": "DEF456"], riskTier: .lowRiskWrite,
                             deadlineMillis: EventEnvelope.nowMillis() - 1),
                conversationID: "conv-late", tenantID: tenant, producer: "test"))
            let failed = try #require(published.all.last).decode(ToolFailed.self)
            #expect(failed.error.code == "timeout")
            #expect(try await CommerceDB.order("DEF456", tenant: tenant, pool).status == "processing")
        }
    }

    @Test func ticketAndEmailAreRecorded() async throws {
        try await CommerceDB.withTenant { pool, tenant in
            let ticket = try await CommerceDB.run(CreateTicket(), ["subject": "Broken mug", "body": "Arrived in pieces", "priority": "high", "order_id": "ABC123"], tenant: tenant, pool)
            #expect((ticket["ticket_id"]?.stringValue ?? "").hasPrefix("T-") && ticket["priority"] == "high")
            let email = try await CommerceDB.run(SendEmail(), ["order_id": "ABC123", "subject": "Your invoice", "body": "Attached."], tenant: tenant, pool)
            #expect(email["to"] == "a***@example.com" && email["status"] == "queued")
            try expectValidResult(email, tool: "send_email", pack: retailPack)
            let row = try #require(try await pool.query("SELECT to_address, subject FROM commerce.email_outbox WHERE tenant_id = \(tenant)").first)
            #expect(try row.decode("to_address", as: String.self) == "ada@example.com")
            #expect(try await CommerceDB.count("support_tickets", tenant: tenant, pool) == 1)
            let preview = try await CommerceDB.preview(SendEmail(), ["order_id": "ABC123", "subject": "S", "body": "B"], tenant: tenant, pool)
            #expect(preview.summary == "Email the customer of order ABC123 at a***@example.com")
        }
    }

    /// A preview runs in a read-only transaction: a tool whose preview tried to write would fail.
    @Test func previewsCannotWrite() async throws {
        try await CommerceDB.withTenant { pool, tenant throws in
            await #expect(throws: PostgresError.self) {
                try await pool.transaction { connection in
                    try connection.execute(simple: "SET TRANSACTION READ ONLY")
                    _ = try CancelOrder().run(args: ["order_id": "DEF456"], tenantID: tenant, customerID: nil, in: connection)
                }
            }
            #expect(try await CommerceDB.order("DEF456", tenant: tenant, pool).status == "processing")
        }
    }

    /// The executor answers a dry-run request with the preview, or, when the effect is impossible,
    /// with the step's failure; and a redelivered approved refund is applied once.
    @Test func reactorDryRunsAndRunsOnce() async throws {
        try await CommerceDB.withTenant { pool, tenant in
            let published = Published()
            let reactor = ExecutorReactor(
                pack: retailPack, tools: ExecutorService.nativeTools(for: retailPack, logger: ExecutorDB.logger), pool: pool,
                producer: "executor@test", logger: ExecutorDB.logger, publish: { published.append($0) })
            let (plan, step) = (UUID(), UUID())
            let args: JSONValue = ["order_id": "DEF456", "amount": 80, "reason": "late"]
            try await reactor.handle(try EventEnvelope.start(
                DryRunRequested(planID: plan, stepID: step, tool: "create_refund", args: args, riskTier: .highRiskWrite, reason: "over the limit"),
                conversationID: "conv-r", tenantID: tenant, producer: "test"))
            try await reactor.handle(try EventEnvelope.start(
                DryRunRequested(planID: plan, stepID: UUID(), tool: "cancel_order", args: ["order_id": "ABC123"], riskTier: .lowRiskWrite, reason: "confidence"),
                conversationID: "conv-r", tenantID: tenant, producer: "test"))
            let approved = try EventEnvelope.start(
                StepApproved(planID: plan, stepID: step, tool: "create_refund", args: args, riskTier: .highRiskWrite),
                conversationID: "conv-r", tenantID: tenant, producer: "test")
            for _ in 0..<3 { try await reactor.handle(approved) }

            let events = published.all
            #expect(events.map(\.type) == ["DryRunCompleted", "ToolFailed", "ToolCallStarted", "ToolSucceeded", "ToolSucceeded", "ToolSucceeded"])
            let dryRun = try events[0].decode(DryRunCompleted.self)
            #expect(dryRun.preview.changes.contains { $0.field == "refunded" && $0.after == 80 })
            #expect(try events[1].decode(ToolFailed.self).error.code == "not_cancellable")
            #expect(try await CommerceDB.order("DEF456", tenant: tenant, pool).refundedCents == 8000, "three deliveries, one refund")
            #expect(try await CommerceDB.count("refunds", tenant: tenant, pool) == 1)
        }
    }
}

/// `search_kb` over a real knowledge index: passages with their source, and a step recorded once.
@Suite struct SearchKnowledgeBaseTests {
    @Test func findsPassagesWithTheirSourceAndRecordsTheStepOnce() async throws {
        try await ExecutorDB.withPool { pool in
            let schema = TestDB.uniqueName("kb")
            let index = try KnowledgeIndex(pool: pool, schema: schema, logger: ExecutorDB.logger)
            try await index.migrate()
            defer { Task { try? await TestDB.dropSchema(schema, pool) } }
            let document = KnowledgeDocument(source: "services.md", text: "# What we offer\n\nWe do not offer gift wrapping or engraving. Orders ship within a day.")
            _ = try await index.upsert(document, chunks: Chunker().chunks(for: document))
            let tool = SearchKnowledgeBase(index: index)
            let result = try await tool.run(args: ["query": "gift wrapping"], tenantID: "default")
            #expect(result["match"] == "allTerms")
            #expect(result["results"]?[0]?["source"] == "services.md")
            #expect(result["results"]?[0]?["excerpt"]?.stringValue?.contains("do not offer gift wrapping") == true)
            try expectValidResult(result, tool: "search_kb", pack: retailPack)
            await #expect(throws: ToolFailure.self) { _ = try await tool.run(args: [:], tenantID: "default") }

            let published = Published()
            let reactor = ExecutorReactor(pack: retailPack, tools: [], asyncTools: [tool], pool: pool, producer: "executor@test", logger: ExecutorDB.logger, publish: { published.append($0) })
            let step = try EventEnvelope.start(
                StepApproved(planID: UUID(), stepID: UUID(), tool: "search_kb", args: ["query": "engraving"], riskTier: .read),
                conversationID: "conv-kb", tenantID: "default", producer: "test")
            try await reactor.handle(step)
            try await reactor.handle(step)
            let events = published.all
            #expect(events.map(\.type) == ["ToolCallStarted", "ToolSucceeded", "ToolSucceeded"])
            #expect(EventCodec.encode(events[1]) == EventCodec.encode(events[2]), "the recorded result, byte for byte")
        }
    }
}
