public import Events
import Foundation
public import JSON
public import Postgres

// The telecom pack's native tools, over the `telecom` schema (TelecomSchema). Unknown numbers,
// regions and SIMs are results (`found: false`), not failures, so the reply can say so
// truthfully. Arguments arrive validated against the pack's input schema (E.164 numbers,
// uppercase regions, amounts like "20.00"); the checks here only guard against misuse.

/// `check_network_status`: open outages in a region, given as a region code (`LONDON`), a
/// postcode district (`SW1A`, mapped by its letters), or a phone number (its home region).
public struct CheckNetworkStatus: NativeTool {
    public let name = "check_network_status"
    public var systemOfRecord: SystemOfRecord { TelecomSchema.systemOfRecord }
    public init() {}

    public func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        var result: [String: JSONValue] = [:]
        let regionCode: String?
        if case .string(let phoneNumber)? = args["phone_number"] {
            result["phone_number"] = .string(phoneNumber)
            if try TelecomArgs.held(phoneNumber, tenantID: tenantID, customerID: customerID, in: connection) {
                let rows = try connection.query("""
                    SELECT home_region FROM telecom.subscribers WHERE tenant_id = \(tenantID) AND phone_number = \(phoneNumber)
                    """)
                regionCode = try rows.first(where: { _ in true })?.decode("home_region", as: String.self)
            } else {
                regionCode = nil
            }
        } else if case .string(let region)? = args["region"] {
            result["region"] = .string(region)
            // A region code, else the letters of a postcode district (SW1A → SW).
            let area = String(region.prefix { $0.isLetter })
            let rows = try connection.query("""
                SELECT region_code FROM telecom.regions WHERE tenant_id = \(tenantID) AND region_code = \(region)
                UNION ALL
                SELECT region_code FROM telecom.postcode_areas
                WHERE tenant_id = \(tenantID) AND area = \(area) AND \(region) ~ '^[A-Z]{1,2}[0-9]'
                """)
            regionCode = try rows.first(where: { _ in true })?.decode("region_code", as: String.self)
        } else {
            throw ToolFailure(code: "invalid_args", message: "region or phone_number required", retriable: false)
        }
        guard let regionCode else {
            result["found"] = .bool(false)
            return .object(result)
        }
        let regionName = try connection.query("""
            SELECT name FROM telecom.regions WHERE tenant_id = \(tenantID) AND region_code = \(regionCode)
            """).first(where: { _ in true })?.decode("name", as: String.self) ?? regionCode
        // The open outage that started last is the one the customer is most likely noticing.
        let outages = try connection.query("""
            SELECT status, services,
                   to_char(estimated_fix AT TIME ZONE 'UTC', 'FMDD Mon YYYY, HH24:MI "UTC"') AS estimated_fix
            FROM telecom.outages
            WHERE tenant_id = \(tenantID) AND region_code = \(regionCode) AND status <> 'resolved'
            ORDER BY started_at DESC, outage_id
            LIMIT 1
            """)
        result["found"] = .bool(true)
        result["region_name"] = .string(regionName)
        if let outage = outages.first(where: { _ in true }) {
            result["outage"] = .bool(true)
            result["outage_status"] = .string(try outage.decode("status", as: String.self))
            result["services"] = .string(try outage.decode("services", as: String.self))
            result["estimated_fix"] = try outage.decode("estimated_fix", as: String?.self).map(JSONValue.string) ?? .null
        } else {
            result["outage"] = .bool(false)
        }
        return .object(result)
    }
}

/// `get_balance`: credit, remaining data and renewal date of a number's account.
public struct GetBalance: NativeTool {
    public let name = "get_balance"
    public var systemOfRecord: SystemOfRecord { TelecomSchema.systemOfRecord }
    public init() {}

    public func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        let phoneNumber = try TelecomArgs.phoneNumber(args)
        guard try TelecomArgs.held(phoneNumber, tenantID: tenantID, customerID: customerID, in: connection) else {
            return .object(["phone_number": .string(phoneNumber), "found": .bool(false)])
        }
        let rows = try connection.query("""
            SELECT plan, status, balance_pence, data_remaining_mb, allowance_renews_on::text AS renews_on
            FROM telecom.subscribers WHERE tenant_id = \(tenantID) AND phone_number = \(phoneNumber)
            """)
        guard let row = rows.first(where: { _ in true }) else {
            return .object(["phone_number": .string(phoneNumber), "found": .bool(false)])
        }
        return .object([
            "phone_number": .string(phoneNumber),
            "found": .bool(true),
            "plan": .string(try row.decode("plan", as: String.self)),
            "status": .string(try row.decode("status", as: String.self)),
            "balance": .string(TelecomFormat.pounds(try row.decode("balance_pence", as: Int64.self))),
            "data_remaining": .string(TelecomFormat.data(megabytes: try row.decode("data_remaining_mb", as: Int.self))),
            "renews_on": .string(try row.decode("renews_on", as: String.self)),
        ])
    }
}

/// `get_puk`: the PUK of the SIM in service for a number (replaced SIMs do not count).
public struct GetPUK: NativeTool {
    public let name = "get_puk"
    public var systemOfRecord: SystemOfRecord { TelecomSchema.systemOfRecord }
    public init() {}

    public func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        let phoneNumber = try TelecomArgs.phoneNumber(args)
        guard try TelecomArgs.held(phoneNumber, tenantID: tenantID, customerID: customerID, in: connection) else {
            return .object(["phone_number": .string(phoneNumber), "found": .bool(false)])
        }
        let rows = try connection.query("""
            SELECT puk FROM telecom.sims
            WHERE tenant_id = \(tenantID) AND phone_number = \(phoneNumber) AND status <> 'replaced'
            """)
        guard let row = rows.first(where: { _ in true }) else {
            return .object(["phone_number": .string(phoneNumber), "found": .bool(false)])
        }
        return .object(["phone_number": .string(phoneNumber), "found": .bool(true), "puk": .string(try row.decode("puk", as: String.self))])
    }
}

/// `activate_sim` (write tier): a SIM awaiting activation becomes active; any other state is
/// reported unchanged, so running it on an active SIM is harmless.
public struct ActivateSIM: WriteTool {
    public let name = "activate_sim"
    public var systemOfRecord: SystemOfRecord { TelecomSchema.systemOfRecord }
    public init() {}

    public func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        let phoneNumber = try TelecomArgs.phoneNumber(args)
        guard try TelecomArgs.held(phoneNumber, tenantID: tenantID, customerID: customerID, in: connection) else {
            return .object(["phone_number": .string(phoneNumber), "found": .bool(false)])
        }
        let rows = try connection.query("""
            SELECT iccid, status FROM telecom.sims
            WHERE tenant_id = \(tenantID) AND phone_number = \(phoneNumber) AND status <> 'replaced'
            FOR UPDATE
            """)
        guard let row = rows.first(where: { _ in true }) else {
            return .object(["phone_number": .string(phoneNumber), "found": .bool(false)])
        }
        let status = try row.decode("status", as: String.self)
        guard status == "pending_activation" else {
            return .object(["phone_number": .string(phoneNumber), "found": .bool(true), "activated": .bool(false), "sim_status": .string(status)])
        }
        try connection.query("""
            UPDATE telecom.sims SET status = 'active', activated_at = now()
            WHERE tenant_id = \(tenantID) AND iccid = \(try row.decode("iccid", as: String.self))
            """)
        return .object(["phone_number": .string(phoneNumber), "found": .bool(true), "activated": .bool(true), "sim_status": "active"])
    }

    public func preview(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> EffectPreview {
        let phoneNumber = try TelecomArgs.phoneNumber(args)
        guard try TelecomArgs.held(phoneNumber, tenantID: tenantID, customerID: customerID, in: connection) else {
            throw ToolFailure(code: "subscriber_not_found", message: "no subscriber \(phoneNumber)", retriable: false)
        }
        let rows = try connection.query("""
            SELECT iccid, status FROM telecom.sims WHERE tenant_id = \(tenantID) AND phone_number = \(phoneNumber) AND status <> 'replaced'
            """)
        guard let row = rows.first(where: { _ in true }) else {
            throw ToolFailure(code: "sim_not_found", message: "no SIM for \(phoneNumber)", retriable: false)
        }
        let status = try row.decode("status", as: String.self)
        let iccid = try row.decode("iccid", as: String.self)
        guard status == "pending_activation" else {
            return EffectPreview(summary: "Nothing to change: the SIM of \(phoneNumber) is \(status)", changes: [])
        }
        return EffectPreview(summary: "Activate the SIM of \(phoneNumber)", changes: [
            .init(target: "sims/\(iccid)", field: "status", before: .string(status), after: "active"),
        ])
    }
}

/// `recharge` (write tier): adds pay-as-you-go credit and records the top-up. It runs once per
/// approved step because the executor records the step in the same transaction; a refused
/// top-up (`applied: false` with a reason) changes nothing.
public struct Recharge: WriteTool {
    public let name = "recharge"
    public var systemOfRecord: SystemOfRecord { TelecomSchema.systemOfRecord }
    public static let allowedPence: ClosedRange<Int64> = 500...10_000
    public init() {}

    public func run(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> JSONValue {
        let phoneNumber = try TelecomArgs.phoneNumber(args)
        guard try TelecomArgs.held(phoneNumber, tenantID: tenantID, customerID: customerID, in: connection) else {
            return .object(["phone_number": .string(phoneNumber), "found": .bool(false)])
        }
        guard case .string(let amountText)? = args["amount"], let pence = TelecomFormat.pence(amountText) else {
            throw ToolFailure(code: "invalid_args", message: "amount must look like 20.00", retriable: false)
        }
        let rows = try connection.query("""
            SELECT plan, status, balance_pence FROM telecom.subscribers
            WHERE tenant_id = \(tenantID) AND phone_number = \(phoneNumber)
            FOR UPDATE
            """)
        guard let row = rows.first(where: { _ in true }) else {
            return .object(["phone_number": .string(phoneNumber), "found": .bool(false)])
        }
        let balance = try row.decode("balance_pence", as: Int64.self)
        var result: [String: JSONValue] = [
            "phone_number": .string(phoneNumber), "found": .bool(true), "applied": .bool(false),
            "amount": .string(TelecomFormat.pounds(pence)), "balance": .string(TelecomFormat.pounds(balance)),
        ]
        let status = try row.decode("status", as: String.self)
        let plan = try row.decode("plan", as: String.self)
        let refusal: String? =
            if !Self.allowedPence.contains(pence) { "amount_out_of_range" }
            else if status == "suspended" { "suspended" }
            else if plan == "pay_monthly" { "pay_monthly" }
            else { nil }
        if let refusal {
            result["reason"] = .string(refusal)
            return .object(result)
        }
        let recorded = try connection.query("""
            WITH credited AS (
                UPDATE telecom.subscribers SET balance_pence = balance_pence + \(pence)
                WHERE tenant_id = \(tenantID) AND phone_number = \(phoneNumber)
                RETURNING balance_pence
            )
            INSERT INTO telecom.recharges (tenant_id, phone_number, amount_pence, balance_after_pence)
            SELECT \(tenantID), \(phoneNumber), \(pence), balance_pence FROM credited
            RETURNING recharge_id::text AS recharge_id, balance_after_pence
            """)
        guard let record = recorded.first(where: { _ in true }) else {
            throw ToolFailure(code: "not_applied", message: "subscriber row vanished during the top-up", retriable: true)
        }
        result["applied"] = .bool(true)
        result["balance"] = .string(TelecomFormat.pounds(try record.decode("balance_after_pence", as: Int64.self)))
        result["recharge_id"] = .string(try record.decode("recharge_id", as: String.self))
        return .object(result)
    }

    public func preview(args: JSONValue, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> EffectPreview {
        let phoneNumber = try TelecomArgs.phoneNumber(args)
        guard try TelecomArgs.held(phoneNumber, tenantID: tenantID, customerID: customerID, in: connection) else {
            throw ToolFailure(code: "subscriber_not_found", message: "no subscriber \(phoneNumber)", retriable: false)
        }
        guard case .string(let amountText)? = args["amount"], let pence = TelecomFormat.pence(amountText), Self.allowedPence.contains(pence) else {
            throw ToolFailure(code: "amount_out_of_range", message: "top-ups are £5.00 to £100.00", retriable: false)
        }
        let rows = try connection.query("""
            SELECT plan, status, balance_pence FROM telecom.subscribers WHERE tenant_id = \(tenantID) AND phone_number = \(phoneNumber)
            """)
        guard let row = rows.first(where: { _ in true }) else {
            throw ToolFailure(code: "subscriber_not_found", message: "no subscriber \(phoneNumber)", retriable: false)
        }
        let balance = try row.decode("balance_pence", as: Int64.self)
        guard try row.decode("status", as: String.self) != "suspended", try row.decode("plan", as: String.self) != "pay_monthly" else {
            throw ToolFailure(code: "not_rechargeable", message: "\(phoneNumber) cannot be topped up (suspended or pay monthly)", retriable: false)
        }
        return EffectPreview(summary: "Top up \(phoneNumber) by \(TelecomFormat.pounds(pence))", changes: [
            .init(target: "subscribers/\(phoneNumber)", field: "balance", before: .string(TelecomFormat.pounds(balance)), after: .string(TelecomFormat.pounds(balance + pence))),
        ])
    }
}

enum TelecomArgs {
    static func phoneNumber(_ args: JSONValue) throws -> String {
        guard case .string(let number)? = args["phone_number"] else {
            throw ToolFailure(code: "invalid_args", message: "phone_number missing", retriable: false)
        }
        return number
    }

    /// Whether the conversation's customer holds `number` (`telecom.account_holders`): another
    /// customer's number is answered as unknown, like another customer's order in retail.
    /// Without a customer (an operator's call, a test of the tool alone) every number is.
    static func held(_ number: String, tenantID: String, customerID: String?, in connection: PostgresConnection) throws -> Bool {
        guard let customerID, !customerID.isEmpty else { return true }
        return try connection.query("""
            SELECT 1 FROM telecom.account_holders WHERE tenant_id = \(tenantID) AND phone_number = \(number) AND customer_id = \(customerID)
            """).count > 0
    }
}

enum TelecomFormat {
    static func pounds(_ pence: Int64) -> String {
        let sign = pence < 0 ? "-" : ""
        let magnitude = pence.magnitude
        return "\(sign)£\(magnitude / 100).\(magnitude % 100 < 10 ? "0" : "")\(magnitude % 100)"
    }

    /// "20", "20.5" or "20.50" as pence, exactly (no floating point); nil for anything else.
    static func pence(_ text: String) -> Int64? {
        func digits(_ part: Substring, _ lengths: ClosedRange<Int>) -> Int64? {
            guard lengths.contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int64(part)
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = digits(parts[0], 1...6) else { return nil }
        guard parts.count == 2 else { return whole * 100 }
        guard let cents = digits(parts[1], 1...2) else { return nil }
        return whole * 100 + (parts[1].count == 1 ? cents * 10 : cents)
    }

    static func data(megabytes: Int) -> String {
        guard megabytes >= 1024 else { return "\(megabytes) MB" }
        let tenths = (megabytes * 10 + 512) / 1024
        return tenths % 10 == 0 ? "\(tenths / 10) GB" : "\(tenths / 10).\(tenths % 10) GB"
    }
}
