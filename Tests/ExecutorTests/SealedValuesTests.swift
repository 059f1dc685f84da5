import CustomerKeys
import DatabaseTestSupport
import DomainPack
import Events
@testable import ExecutorApp
import Foundation
import JSON
import Postgres
import Privacy
import Testing

/// Sealed values (the telecom pack's `privacy.unseal`: phone numbers) through the executor with
/// real Postgres: the customer's message is on the log redacted, with references, and sealed
/// under the customer's key; a step naming a reference gets the raw number, normalized, for the
/// tool only, and what goes back to the log names it by the reference again.
@Suite(.serialized)
struct SealedValuesTests {
    struct Customer {
        let tenant: String
        let id: String
        let message: EventEnvelope
        let reference: SealedReference
    }

    /// A message of `customer` saying `text`, as the gateway appends it.
    static func message(_ text: String, customer: String, tenant: String, vault: CustomerKeyVault) async throws -> Customer {
        let id = UUID()
        let redacted = PIIDetector.shared.redact(text, referencing: [.phone], messageID: id)
        let key = try await vault.key(tenant: tenant, customer: customer)
        let sealed = try Sealer.seal(text, key: key, keyRef: CustomerKeyVault.keyRef(tenant: tenant, customer: customer), context: id.uuidString.lowercased())
        let event = try EventEnvelope.start(MessageReceived(customerID: customer, text: redacted.text, sealed: sealed), id: id, conversationID: "conv-\(customer)", tenantID: tenant, producer: "gateway@test")
        return Customer(tenant: tenant, id: customer, message: event, reference: try #require(SealedReference.all(in: redacted.text).first))
    }

    static func step(_ tool: String, _ args: JSONValue, for customer: Customer, tier: RiskTier = .read) throws -> EventEnvelope {
        try customer.message.reaction(StepApproved(planID: UUID(), stepID: UUID(), tool: tool, args: args, riskTier: tier, customerID: customer.id), producer: "verifier@test", label: UUID().uuidString)
    }

    @Test func aStepGetsTheCustomersRawNumberAndTheLogGetsTheReferenceBack() async throws {
        try await ExecutorDB.withPool { pool in
            try await migrate(pool, schema: CustomerKeyVault.schema, migrations: CustomerKeyVault.migrations, logger: ExecutorDB.logger)
            let vault = CustomerKeyVault(pool: pool)
            try await ExecutorDB.withTenant(pool) { tenant in
                let published = Published()
                let reactor = ExecutorReactor(
                    pack: telecomPack, tools: ExecutorService.nativeTools(for: telecomPack, logger: ExecutorDB.logger), pool: pool,
                    producer: "executor@test", logger: ExecutorDB.logger, publish: { published.append($0) })
                let ada = try await Self.message("What's the balance on 07700 900 123?", customer: "cus_ada", tenant: tenant, vault: vault)
                #expect(try ada.message.decode(MessageReceived.self).text == "What's the balance on \(ada.reference.placeholder)?")
                try await reactor.handle(ada.message)

                // The read: the tool finds the subscriber by the unsealed, normalized number.
                try await reactor.handle(try Self.step("get_balance", ["phone_number": .string(ada.reference.placeholder)], for: ada))
                let result = try #require(published.all.last).decode(ToolSucceeded.self).result
                #expect(result["balance"] == "£12.50", "\(result)")
                #expect(result["phone_number"] == .string(ada.reference.placeholder), "the number goes back to the log as its reference")
                let recorded = try await pool.query("SELECT args::text AS args, result_event FROM executor.tool_executions WHERE tenant_id = \(tenant)")
                let stored = try recorded.map { try $0.decode("args", as: String.self) + (try $0.decode("result_event", as: String.self)) }
                #expect(!stored.isEmpty && !stored.contains { $0.contains("7700") }, "nor does the step's record hold it")

                // A tier-2 write's dry run: the preview is computed on the raw number and shown
                // with the reference; the approval keeps the reference.
                let dryRun = try ada.message.reaction(DryRunRequested(planID: UUID(), stepID: UUID(), tool: "recharge", args: ["phone_number": .string(ada.reference.placeholder), "amount": "10.00"], riskTier: .highRiskWrite, reason: "tier 2", customerID: ada.id), producer: "verifier@test")
                try await reactor.handle(dryRun)
                let completed = try #require(published.all.last).decode(DryRunCompleted.self)
                #expect(completed.args["phone_number"] == .string(ada.reference.placeholder))
                #expect(completed.preview.changes.first?.before == "£12.50" && completed.preview.changes.first?.after == "£22.50", "\(completed.preview)")
                let completedEvent = try #require(published.all.last)
                #expect(!String(decoding: EventCodec.encode(completedEvent), as: UTF8.self).contains("7700"))

                // Another customer naming Ada's reference gets nothing of hers.
                let bo = try await Self.message("my number is 07700 900 456", customer: "cus_bo", tenant: tenant, vault: vault)
                try await reactor.handle(try Self.step("get_balance", ["phone_number": .string(ada.reference.placeholder)], for: bo))
                let refused = try #require(published.all.last).decode(ToolFailed.self)
                #expect(refused.error.code == "sealed_value_unknown" && !refused.error.retriable)

                // Erasure: Ada's key is gone, so is her number.
                #expect(try await vault.destroy(tenant: tenant, customer: ada.id))
                try await reactor.handle(try Self.step("get_balance", ["phone_number": .string(ada.reference.placeholder)], for: ada))
                #expect(try #require(published.all.last).decode(ToolFailed.self).error.code == "customer_erased")
                let erased = try EventEnvelope.start(CustomerErased(customerID: ada.id), conversationID: "customer:\(ada.id)", tenantID: tenant, producer: "gateway@test")
                try await reactor.handle(erased)
                #expect(try await pool.query("SELECT 1 FROM executor.sealed_references WHERE tenant_id = \(tenant) AND customer_id = 'cus_ada'").count == 0)
                try await pool.query("DELETE FROM executor.sealed_references WHERE tenant_id = \(tenant)")
            }
        }
    }
}
