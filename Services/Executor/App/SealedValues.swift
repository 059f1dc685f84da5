import CustomerKeys
import DomainPack
import Events
import Foundation
import JSON
import Postgres
import Privacy
import ToolBindings

/// The executor's side of sealed personal data (docs/SECURITY.md, unsealing for tools): a
/// value a pack seals for its tools (`privacy.unseal`) is on the log, in prompts and in plans
/// only as a reference (`[PHONE#3f9a2b1c]`). Here, and nowhere else, a step of a tool the pack
/// names gets the raw value: the reference is looked up among the conversation customer's
/// messages, the original is opened with the customer's key, and the value found in it. The
/// result goes back to the log with the raw value replaced by its reference again.
struct SealedValues: Sendable {
    let pack: DomainPack
    let pool: PostgresPool
    let vault: CustomerKeyVault

    /// Where each reference's original is (written by the reaction to each customer message;
    /// reaction state, so a step in the same fetched batch as its message finds it).
    static let migration = Migration(version: 2, name: "sealed_references", sql: """
        CREATE TABLE sealed_references (
            tenant_id text NOT NULL,
            customer_id text NOT NULL,
            reference text NOT NULL,
            message_id uuid NOT NULL,
            sealed jsonb NOT NULL,
            PRIMARY KEY (tenant_id, customer_id, reference)
        );
        """)

    /// Records the references a customer message carries (idempotent).
    func record(_ event: EventEnvelope) async throws {
        let message = try event.decode(MessageReceived.self)
        guard let sealed = message.sealed else { return }
        let references = Set(SealedReference.all(in: message.text).map(\.id))
        guard !references.isEmpty else { return }
        let sealedJSON = try JSONValueEncoder().encode(sealed).serializedString()
        for reference in references.sorted() {
            try await pool.query("""
                INSERT INTO executor.sealed_references (tenant_id, customer_id, reference, message_id, sealed)
                VALUES (\(event.tenantID), \(message.customerID), \(reference), \(event.id), \(sealedJSON)::jsonb)
                ON CONFLICT DO NOTHING
                """)
        }
    }

    /// Erasure: the customer's references go (their key is gone too).
    func forget(_ event: EventEnvelope) async throws {
        let erased = try event.decode(CustomerErased.self)
        try await pool.query("DELETE FROM executor.sealed_references WHERE tenant_id = \(event.tenantID) AND customer_id = \(erased.customerID)")
    }

    /// What unsealing did to a step's arguments, to undo on what goes back to the log.
    struct Unsealed: Sendable {
        /// The arguments as the log has them (references).
        var sealedArgs: JSONValue
        /// Each raw form (as typed, and normalized) with the reference that replaces it.
        var values: [(raw: String, placeholder: String)]

        static func none(_ args: JSONValue) -> Unsealed { Unsealed(sealedArgs: args, values: []) }

        /// `value` with every unsealed value replaced by its reference.
        func reseal(_ value: JSONValue) -> JSONValue {
            guard !values.isEmpty else { return value }
            switch value {
            case .string(let text): return .string(reseal(text))
            case .array(let items): return .array(items.map(reseal))
            case .object(let members): return .object(members.mapValues(reseal))
            default: return value
            }
        }

        func reseal(_ text: String) -> String {
            // Longest first: a normalized "+447700900123" contains no shorter form's tail by accident.
            values.sorted { $0.raw.count > $1.raw.count }.reduce(text) { $0.replacingOccurrences(of: $1.raw, with: $1.placeholder) }
        }
    }

    /// The step's arguments with the references of kinds the pack unseals for `tool` replaced by
    /// the customer's raw values (normalized like the slot of the same name), checked against
    /// the tool's input schema. Throws a `ToolFailure` (not retriable) when a reference is not
    /// this customer's, the customer was erased, or the unsealed arguments are invalid.
    func unseal(_ args: JSONValue, tool: String, tenant: String, customer: String?) async throws -> (args: JSONValue, unsealed: Unsealed) {
        let kinds = pack.unsealedKinds(for: tool)
        guard !kinds.isEmpty else { return (args, .none(args)) }
        var wanted = Set<SealedReference>()
        Self.collect(args) { text in for reference in SealedReference.all(in: text) where kinds.contains(reference.kind) { wanted.insert(reference) } }
        guard !wanted.isEmpty else { return (args, .none(args)) }
        guard let customer else {
            throw ToolFailure(code: "sealed_value_unknown", message: "the step names sealed values but no customer", retriable: false)
        }
        guard let key = try await vault.existing(tenant: tenant, customer: customer) else {
            throw ToolFailure(code: "customer_erased", message: "the customer's sealed values were erased", retriable: false)
        }
        var raw: [SealedReference: String] = [:]
        for reference in wanted {
            let rows = try await pool.query("""
                SELECT message_id, sealed FROM executor.sealed_references
                WHERE tenant_id = \(tenant) AND customer_id = \(customer) AND reference = \(reference.id)
                """)
            guard let row = rows.first(where: { _ in true }) else {
                throw ToolFailure(code: "sealed_value_unknown", message: "\(reference.placeholder) is not a value this customer gave", retriable: false)
            }
            let messageID = try row.decode("message_id", as: UUID.self)
            let sealed = try JSONValueDecoder().decode(SealedText.self, from: try JSONValue.parse(try row.decode("sealed", as: String.self)))
            // The key the original names must be this customer's: never another's value.
            guard sealed.keyRef == CustomerKeyVault.keyRef(tenant: tenant, customer: customer) else {
                throw ToolFailure(code: "sealed_value_unknown", message: "\(reference.placeholder) is sealed under another key", retriable: false)
            }
            let original = try Sealer.open(sealed, key: key, context: messageID.uuidString.lowercased())
            guard let value = PIIDetector.shared.value(of: reference, messageID: messageID, in: original, allowing: pack.clearPIIKinds) else {
                throw ToolFailure(code: "sealed_value_unknown", message: "\(reference.placeholder) is not in its message", retriable: false)
            }
            raw[reference] = value
        }
        var values: [(raw: String, placeholder: String)] = []
        func substitute(_ value: JSONValue, key: String?) -> JSONValue {
            switch value {
            case .string(let text):
                return .string(SealedReference.replacing(in: text) { reference in
                    guard let typed = raw[reference] else { return nil }
                    let slot = key.flatMap { name in pack.intents.lazy.flatMap(\.slots).first { $0.name == name && $0.pii == reference.kind } }
                    let normalized = slot?.normalized(typed) ?? typed
                    values.append((typed, reference.placeholder))
                    if normalized != typed { values.append((normalized, reference.placeholder)) }
                    return normalized
                })
            case .array(let items): return .array(items.map { substitute($0, key: key) })
            case .object(let members): return .object(Dictionary(uniqueKeysWithValues: members.map { ($0.key, substitute($0.value, key: $0.key)) }))
            default: return value
            }
        }
        let unsealedArgs = substitute(args, key: nil)
        if let contract = pack.tools[tool] {
            let result = contract.inputSchema.validate(unsealedArgs, maxErrors: 3)
            guard result.isValid else {
                let unsealed = Unsealed(sealedArgs: args, values: values)
                throw ToolFailure(code: "invalid_args", message: unsealed.reseal("the unsealed arguments break the tool's schema: " + result.errors.map(\.description).joined(separator: "; ")), retriable: false)
            }
        }
        return (unsealedArgs, Unsealed(sealedArgs: args, values: values))
    }

    static func collect(_ value: JSONValue, _ each: (String) -> Void) {
        switch value {
        case .string(let text): each(text)
        case .array(let items): items.forEach { collect($0, each) }
        case .object(let members): members.values.forEach { collect($0, each) }
        default: break
        }
    }
}

extension EventEnvelope {
    /// A tool's result event with every unsealed value replaced by its reference again.
    func resealed(_ unsealed: SealedValues.Unsealed) throws -> EventEnvelope {
        guard !unsealed.values.isEmpty else { return self }
        var event = self
        switch type {
        case ToolSucceeded.eventType:
            var success = try decode(ToolSucceeded.self)
            success.result = unsealed.reseal(success.result)
            event.payload = try success.jsonValue()
        case ToolFailed.eventType:
            var failure = try decode(ToolFailed.self)
            failure.error.message = unsealed.reseal(failure.error.message)
            event.payload = try failure.jsonValue()
        case DryRunCompleted.eventType:
            var completed = try decode(DryRunCompleted.self)
            completed.args = unsealed.sealedArgs
            completed.preview = try JSONValueDecoder().decode(EffectPreview.self, from: unsealed.reseal(try JSONValueEncoder().encode(completed.preview)))
            event.payload = try completed.jsonValue()
        default:
            break
        }
        return event
    }
}
