import DatabaseTestSupport
import DomainPack
import Events
@testable import ExecutorApp
import Foundation
import JSON
import Logging
import Postgres
import Synchronization
import Testing

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let retailPack = try! DomainPack.load(path: repoRoot.appendingPathComponent("deploy/packs/retail.yaml").path)
let telecomPack = try! DomainPack.load(path: repoRoot.appendingPathComponent("deploy/packs/telecom.yaml").path)

/// Real Postgres (DATABASE_URL). The `telecom` and `executor` schemas are migrated as the
/// executor does at start-up (idempotent, so parallel tests share them); read tests use the
/// seeded `default` tenant, which no test changes, and write tests a private copy of it.
enum ExecutorDB {
    static var logger: Logger { TestDB.logger }

    static func withPool<T>(_ body: (PostgresPool) async throws -> T) async throws -> T {
        try await TestDB.withPool { pool in
            try await migrate(pool, schema: TelecomSchema.systemOfRecord.name, migrations: TelecomSchema.systemOfRecord.migrations, logger: logger)
            try await TelecomSchema.systemOfRecord.seedDemoData(pool)
            try await migrate(pool, schema: "executor", migrations: ExecutorStore.migrations, logger: logger)
            return try await body(pool)
        }
    }

    /// The demo subscribers and SIMs copied under a fresh tenant, removed afterwards.
    static func withTenant<T>(_ pool: PostgresPool, _ body: (String) async throws -> T) async throws -> T {
        let tenant = TestDB.uniqueName("t")
        try await pool.transaction { connection in
            try connection.query("INSERT INTO telecom.regions SELECT \(tenant), region_code, name FROM telecom.regions WHERE tenant_id = 'default'")
            try connection.query("""
                INSERT INTO telecom.subscribers
                SELECT \(tenant), phone_number, name, home_region, plan, status, balance_pence, data_remaining_mb, allowance_renews_on
                FROM telecom.subscribers WHERE tenant_id = 'default'
                """)
            try connection.query("""
                INSERT INTO telecom.sims SELECT \(tenant), iccid, phone_number, status, puk, activated_at
                FROM telecom.sims WHERE tenant_id = 'default'
                """)
            try connection.query("INSERT INTO telecom.account_holders SELECT \(tenant), phone_number, customer_id FROM telecom.account_holders WHERE tenant_id = 'default'")
        }
        func cleanUp() async throws {
            try await pool.transaction { connection in
                for table in ["recharges", "account_holders", "sims", "subscribers", "regions"] {
                    try connection.query("DELETE FROM telecom.\(identifier: table) WHERE tenant_id = \(tenant)")
                }
            }
        }
        do {
            let result = try await body(tenant)
            try await cleanUp()
            return result
        } catch {
            try? await cleanUp()
            throw error
        }
    }

    static func run(_ tool: any NativeTool, _ args: JSONValue, tenant: String = "default", _ pool: PostgresPool) async throws -> JSONValue {
        try await pool.transaction { try tool.run(args: args, tenantID: tenant, customerID: nil, in: $0) }
    }

    static func balancePence(_ phone: String, tenant: String, _ pool: PostgresPool) async throws -> Int64 {
        let rows = try await pool.query("SELECT balance_pence FROM telecom.subscribers WHERE tenant_id = \(tenant) AND phone_number = \(phone)")
        return try #require(rows.first).decode("balance_pence", as: Int64.self)
    }

    static func rechargeCount(tenant: String, _ pool: PostgresPool) async throws -> Int {
        try #require(try await pool.query("SELECT count(*)::int AS n FROM telecom.recharges WHERE tenant_id = \(tenant)").first).decode("n", as: Int.self)
    }
}

/// The result as the verifier will check it: valid against the pack's output schema.
func expectValidResult(_ result: JSONValue, tool: String, pack: DomainPack = telecomPack, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let validation = try #require(pack.tools[tool], sourceLocation: sourceLocation).outputSchema.validate(result)
    #expect(validation.isValid, "\(tool): \(validation.errors) in \(result.serializedString())", sourceLocation: sourceLocation)
}

@Suite struct NativeToolRegistryTests {
    @Test(arguments: ["retail", "telecom"])
    func everyPackToolHasANativeImplementation(name: String) {
        let pack = name == "retail" ? retailPack : telecomPack
        let native = Set(pack.tools.values.filter { $0.binding == "native" }.map(\.name))
        #expect(native == Set(pack.tools.keys), "both packs bind every tool natively")
        let offered = ExecutorService.nativeTools(for: pack, logger: ExecutorDB.logger).map(\.name)
        let async = ExecutorService.asyncToolNames.intersection(native)
        #expect(Set(offered).union(async) == native)
        #expect(offered.count + async.count == native.count)
    }

    @Test func toolsOutsideThePackAreNotOffered() {
        #expect(Set(ExecutorService.nativeTools(for: retailPack, logger: ExecutorDB.logger).map(\.name)) == [
            "get_order_status", "get_order", "get_invoice", "create_ticket", "create_refund", "cancel_order", "update_shipping_address", "send_email",
        ])
        #expect(!ExecutorService.nativeTools(for: telecomPack, logger: ExecutorDB.logger).contains { $0.name == "get_order_status" })
        #expect(Set(ExecutorService.nativeTools.map(\.name)).count == ExecutorService.nativeTools.count, "tool names are unique")
    }
}

@Suite struct TelecomReadToolTests {
    static let manchester: JSONValue = ["found": true, "region_name": "Manchester", "outage": true, "outage_status": "fixing", "services": "mobile data", "estimated_fix": "25 Nov 2026, 18:00 UTC"]
    static let glasgow: JSONValue = ["found": true, "region_name": "Glasgow", "outage": true, "outage_status": "investigating", "services": "calls and mobile data", "estimated_fix": nil]

    static func with(_ base: JSONValue, _ extra: [String: JSONValue]) -> JSONValue {
        guard case .object(let fields) = base else { return base }
        return .object(fields.merging(extra) { _, new in new })
    }

    static let networkCases: [(JSONValue, JSONValue)] = [
        (["region": "MANCHESTER"], with(manchester, ["region": "MANCHESTER"])),
        (["region": "M1"], with(manchester, ["region": "M1"])),
        (["region": "GLASGOW"], with(glasgow, ["region": "GLASGOW"])),
        (["region": "G12"], with(glasgow, ["region": "G12"])),
        (["region": "SW1A"], ["found": true, "region": "SW1A", "region_name": "London", "outage": false]),
        // Leeds had an outage, but it is resolved.
        (["region": "LEEDS"], ["found": true, "region": "LEEDS", "region_name": "Leeds", "outage": false]),
        (["region": "ZZ9"], ["found": false, "region": "ZZ9"]),
        (["region": "PARIS"], ["found": false, "region": "PARIS"]),
        (["phone_number": "+447700900456"], with(manchester, ["phone_number": "+447700900456"])),
        (["phone_number": "+447700900123"], ["found": true, "phone_number": "+447700900123", "region_name": "London", "outage": false]),
        (["phone_number": "+447700900999"], ["found": false, "phone_number": "+447700900999"]),
    ]

    @Test(arguments: networkCases)
    func networkStatus(args: JSONValue, expected: JSONValue) async throws {
        let result = try await ExecutorDB.withPool { try await ExecutorDB.run(CheckNetworkStatus(), args, $0) }
        #expect(result == expected)
        try expectValidResult(result, tool: "check_network_status")
    }

    static let balanceCases: [(String, JSONValue)] = [
        ("+447700900123", JSONValue.object(["found": true, "plan": "pay_as_you_go", "status": "active", "balance": "£12.50", "data_remaining": "3 GB", "renews_on": "2026-12-01"])),
        ("+447700900456", ["found": true, "plan": "pay_as_you_go", "status": "active", "balance": "£3.20", "data_remaining": "512 MB", "renews_on": "2026-12-04"]),
        ("+447700900789", ["found": true, "plan": "pay_monthly", "status": "active", "balance": "£0.00", "data_remaining": "20 GB", "renews_on": "2026-12-10"]),
        ("+447700900321", ["found": true, "plan": "pay_as_you_go", "status": "suspended", "balance": "£0.75", "data_remaining": "0 MB", "renews_on": "2026-12-02"]),
        ("+447700900999", ["found": false]),
    ]

    @Test(arguments: balanceCases)
    func balance(phone: String, expected: JSONValue) async throws {
        let result = try await ExecutorDB.withPool { try await ExecutorDB.run(GetBalance(), ["phone_number": .string(phone)], $0) }
        #expect(result == Self.with(expected, ["phone_number": .string(phone)]))
        try expectValidResult(result, tool: "get_balance")
    }

    static let pukCases: [(String, JSONValue)] = [
        ("+447700900123", JSONValue.object(["found": true, "puk": "12345678"])),
        ("+447700900789", ["found": true, "puk": "24681357"]),
        ("+447700900999", ["found": false]),
    ]

    @Test(arguments: pukCases)
    func puk(phone: String, expected: JSONValue) async throws {
        let result = try await ExecutorDB.withPool { try await ExecutorDB.run(GetPUK(), ["phone_number": .string(phone)], $0) }
        #expect(result == Self.with(expected, ["phone_number": .string(phone)]))
        try expectValidResult(result, tool: "get_puk")
    }

    @Test func pukOfAReplacedSimIsNotGiven() async throws {
        try await ExecutorDB.withPool { pool in
            try await ExecutorDB.withTenant(pool) { tenant in
                try await pool.query("UPDATE telecom.sims SET status = 'replaced' WHERE tenant_id = \(tenant) AND phone_number = '+447700900123'")
                try await pool.query("INSERT INTO telecom.sims VALUES (\(tenant), '8944100000000000999', '+447700900123', 'active', '99990000', now())")
                let result = try await ExecutorDB.run(GetPUK(), ["phone_number": "+447700900123"], tenant: tenant, pool)
                #expect(result["puk"] == "99990000")
            }
        }
    }

    @Test func missingArgumentsAreToolFailures() async throws {
        try await ExecutorDB.withPool { pool in
            for tool in [CheckNetworkStatus(), GetBalance(), GetPUK(), ActivateSIM(), Recharge()] as [any NativeTool] {
                await #expect(throws: ToolFailure.self, "\(tool.name)") { try await ExecutorDB.run(tool, [:], pool) }
            }
        }
    }
}

@Suite struct TelecomWriteToolTests {
    @Test func activationActivatesOnlyAPendingSim() async throws {
        try await ExecutorDB.withPool { pool in
            try await ExecutorDB.withTenant(pool) { tenant in
                let first = try await ExecutorDB.run(ActivateSIM(), ["phone_number": "+447700900456"], tenant: tenant, pool)
                #expect(first == ["phone_number": "+447700900456", "found": true, "activated": true, "sim_status": "active"])
                try expectValidResult(first, tool: "activate_sim")
                let row = try #require(try await pool.query("""
                    SELECT status, activated_at IS NOT NULL AS stamped FROM telecom.sims
                    WHERE tenant_id = \(tenant) AND phone_number = '+447700900456'
                    """).first)
                #expect(try row.decode("status", as: String.self) == "active")
                #expect(try row.decode("stamped", as: Bool.self))

                let again = try await ExecutorDB.run(ActivateSIM(), ["phone_number": "+447700900456"], tenant: tenant, pool)
                #expect(again == ["phone_number": "+447700900456", "found": true, "activated": false, "sim_status": "active"])
                let locked = try await ExecutorDB.run(ActivateSIM(), ["phone_number": "+447700900789"], tenant: tenant, pool)
                #expect(locked == ["phone_number": "+447700900789", "found": true, "activated": false, "sim_status": "puk_locked"])
                try expectValidResult(locked, tool: "activate_sim")
                let unknown = try await ExecutorDB.run(ActivateSIM(), ["phone_number": "+447700900999"], tenant: tenant, pool)
                #expect(unknown == ["phone_number": "+447700900999", "found": false])
                let lockedStatus = try #require(try await pool.query("SELECT status FROM telecom.sims WHERE tenant_id = \(tenant) AND phone_number = '+447700900789'").first)
                #expect(try lockedStatus.decode("status", as: String.self) == "puk_locked")
            }
        }
    }

    @Test func rechargeCreditsAndRecordsTheTopUp() async throws {
        try await ExecutorDB.withPool { pool in
            try await ExecutorDB.withTenant(pool) { tenant in
                let ada = "+447700900123"
                let result = try await ExecutorDB.run(Recharge(), ["phone_number": .string(ada), "amount": "20.00"], tenant: tenant, pool)
                try expectValidResult(result, tool: "recharge")
                #expect(result["applied"] == true)
                #expect(result["amount"] == "£20.00")
                #expect(result["balance"] == "£32.50")
                let rechargeID = try #require(result["recharge_id"]?.stringValue)
                #expect(try await ExecutorDB.balancePence(ada, tenant: tenant, pool) == 3250)
                let ledger = try #require(try await pool.query("""
                    SELECT amount_pence, balance_after_pence FROM telecom.recharges WHERE tenant_id = \(tenant) AND recharge_id = \(rechargeID)::uuid
                    """).first)
                #expect(try ledger.decode("amount_pence", as: Int64.self) == 2000)
                #expect(try ledger.decode("balance_after_pence", as: Int64.self) == 3250)

                // The top of the range is allowed.
                let maximum = try await ExecutorDB.run(Recharge(), ["phone_number": .string(ada), "amount": "100.00"], tenant: tenant, pool)
                #expect(maximum["balance"] == "£132.50")
                #expect(try await ExecutorDB.rechargeCount(tenant: tenant, pool) == 2)
            }
        }
    }

    static let refusalCases: [(String, String, JSONValue)] = [
        ("+447700900123", "4.99", JSONValue.object(["found": true, "applied": false, "reason": "amount_out_of_range", "amount": "£4.99", "balance": "£12.50"])),
        ("+447700900123", "100.01", ["found": true, "applied": false, "reason": "amount_out_of_range", "amount": "£100.01", "balance": "£12.50"]),
        ("+447700900789", "10.00", ["found": true, "applied": false, "reason": "pay_monthly", "amount": "£10.00", "balance": "£0.00"]),
        ("+447700900321", "10.00", ["found": true, "applied": false, "reason": "suspended", "amount": "£10.00", "balance": "£0.75"]),
        ("+447700900999", "10.00", ["found": false]),
    ]

    @Test(arguments: refusalCases)
    func refusedRechargeChangesNothing(phone: String, amount: String, expected: JSONValue) async throws {
        try await ExecutorDB.withPool { pool in
            try await ExecutorDB.withTenant(pool) { tenant in
                let before = try await pool.query("SELECT sum(balance_pence)::bigint AS total FROM telecom.subscribers WHERE tenant_id = \(tenant)")
                let result = try await ExecutorDB.run(Recharge(), ["phone_number": .string(phone), "amount": .string(amount)], tenant: tenant, pool)
                guard case .object(var fields) = expected else { return }
                fields["phone_number"] = .string(phone)
                #expect(result == .object(fields))
                try expectValidResult(result, tool: "recharge")
                let after = try await pool.query("SELECT sum(balance_pence)::bigint AS total FROM telecom.subscribers WHERE tenant_id = \(tenant)")
                #expect(try before[0].decode("total", as: Int64.self) == after[0].decode("total", as: Int64.self))
                #expect(try await ExecutorDB.rechargeCount(tenant: tenant, pool) == 0)
            }
        }
    }

    @Test(arguments: [("20", Int64(2000)), ("20.5", 2050), ("0.05", 5), ("999999.99", 99_999_999)])
    func amountsParseExactly(text: String, pence: Int64) {
        #expect(TelecomFormat.pence(text) == pence)
    }

    @Test(arguments: ["", "+5", "-5", "5.", ".50", "5.123", "1e3", "٥", "1234567"])
    func malformedAmountsAreRejected(text: String) {
        #expect(TelecomFormat.pence(text) == nil)
    }
}

/// Collects what the reactor publishes.
final class Published: Sendable {
    let events = Mutex<[EventEnvelope]>([])
    func append(_ event: EventEnvelope) { events.withLock { $0.append(event) } }
    var all: [EventEnvelope] { events.withLock { $0 } }
}

@Suite struct TelecomReactorTests {
    func approved(_ tool: String, _ args: JSONValue, tenant: String) throws -> EventEnvelope {
        try EventEnvelope.start(
            StepApproved(planID: UUID(), stepID: UUID(), tool: tool, args: args, riskTier: .highRiskWrite),
            conversationID: "conv-" + tenant, tenantID: tenant, producer: "test")
    }

    /// The write tool runs once per step: a redelivered approval gets the recorded result back
    /// byte for byte, and the credit is applied once.
    @Test func redeliveredRechargeIsAppliedOnce() async throws {
        try await ExecutorDB.withPool { pool in
            try await ExecutorDB.withTenant(pool) { tenant in
                let published = Published()
                let reactor = ExecutorReactor(
                    pack: telecomPack, tools: ExecutorService.nativeTools(for: telecomPack, logger: ExecutorDB.logger), pool: pool,
                    producer: "executor@test", logger: ExecutorDB.logger, publish: { published.append($0) })
                let step = try approved("recharge", ["phone_number": "+447700900123", "amount": "10.00"], tenant: tenant)
                try await reactor.handle(step)
                try await reactor.handle(step)

                let events = published.all
                #expect(events.map(\.type) == ["ToolCallStarted", "ToolSucceeded", "ToolSucceeded"])
                #expect(EventCodec.encode(events[1]) == EventCodec.encode(events[2]))
                let result = try events[1].decode(ToolSucceeded.self).result
                #expect(result["applied"] == true)
                #expect(result["balance"] == "£22.50")
                #expect(try await ExecutorDB.balancePence("+447700900123", tenant: tenant, pool) == 2250)
                #expect(try await ExecutorDB.rechargeCount(tenant: tenant, pool) == 1)
            }
        }
    }

    /// A conversation's tools see only its customer's numbers: another holder's number is
    /// answered as unknown by every tool that takes one, and its dry run finds no subscriber.
    @Test func aCustomerSeesOnlyTheNumbersTheyHold() async throws {
        try await ExecutorDB.withPool { pool in
            let tools = ExecutorService.nativeTools(for: telecomPack, logger: ExecutorDB.logger)
            func run(_ name: String, _ args: JSONValue, customer: String?) async throws -> JSONValue {
                let tool = try #require(tools.first { $0.name == name })
                return try await pool.transaction { try tool.run(args: args, tenantID: "default", customerID: customer, in: $0) }
            }
            let alans: JSONValue = ["phone_number": "+447700900789"]
            #expect(try await run("get_puk", alans, customer: "cus_alan")["puk"] == "24681357")
            #expect(try await run("get_puk", alans, customer: "cus_t1")["found"] == true, "the account's holder")
            for (tool, args) in [("get_puk", alans), ("get_balance", alans), ("activate_sim", alans), ("recharge", ["phone_number": "+447700900789", "amount": "10.00"] as JSONValue)] {
                let answer = try await run(tool, args, customer: "cus_ada")
                #expect(answer == ["phone_number": "+447700900789", "found": false], "\(tool): \(answer)")
            }
            let network = try await run("check_network_status", alans, customer: "cus_ada")
            #expect(network["found"] == false && network["region"] == nil, "not even the number's home region: \(network)")
            let recharge = try #require(tools.first { $0.name == "recharge" } as? any WriteTool)
            let preview = try await pool.withConnection { connection -> String? in
                do {
                    _ = try recharge.preview(args: ["phone_number": "+447700900789", "amount": "10.00"], tenantID: "default", customerID: "cus_ada", in: connection)
                    return nil
                } catch let failure as ToolFailure { return failure.code }
            }
            #expect(preview == "subscriber_not_found")
        }
    }

    @Test func readToolRunsThroughTheReactor() async throws {
        try await ExecutorDB.withPool { pool in
            let published = Published()
            let reactor = ExecutorReactor(
                pack: telecomPack, tools: ExecutorService.nativeTools(for: telecomPack, logger: ExecutorDB.logger), pool: pool,
                producer: "executor@test", logger: ExecutorDB.logger, publish: { published.append($0) })
            try await reactor.handle(try approved("get_balance", ["phone_number": "+447700900123"], tenant: "default"))
            let events = published.all
            #expect(events.map(\.type) == ["ToolCallStarted", "ToolSucceeded"])
            #expect(try events.last?.decode(ToolSucceeded.self).result["balance"] == "£12.50")
        }
    }

    /// With the retail pack loaded, telecom tools are not offered: the step fails and nothing
    /// is credited.
    @Test func toolOutsideTheLoadedPackFails() async throws {
        try await ExecutorDB.withPool { pool in
            try await ExecutorDB.withTenant(pool) { tenant in
                let published = Published()
                let reactor = ExecutorReactor(
                    pack: retailPack, tools: ExecutorService.nativeTools(for: retailPack, logger: ExecutorDB.logger), pool: pool,
                    producer: "executor@test", logger: ExecutorDB.logger, publish: { published.append($0) })
                try await reactor.handle(try approved("recharge", ["phone_number": "+447700900123", "amount": "10.00"], tenant: tenant))
                let failed = try #require(published.all.last).decode(ToolFailed.self)
                #expect(failed.error.code == "not_implemented")
                #expect(try await ExecutorDB.balancePence("+447700900123", tenant: tenant, pool) == 1250)
            }
        }
    }
}
