public import Events
import JSON
import JSONSchema

/// Why an event's payload is refused: it does not match its published schema, or no schema is
/// published for its type and version (a producer newer than this consumer, or a forgery).
public struct EventContractViolation: Error, CustomStringConvertible, Sendable, Equatable {
    public var eventType: String
    public var version: Int
    public var problems: [String]
    public var description: String {
        "payload of \(eventType) v\(version) does not match docs/events/\(eventType).v\(version).json: " + problems.joined(separator: "; ")
    }
}

/// The published event contract (docs/events), compiled once per process. Every event a
/// service consumes is checked here before any of its handlers (reactions or projections)
/// sees it: a handler's typed decode tolerates what the schema forbids (extra fields, out of
/// range values, the wrong risk tier spelling), and a forged or corrupted event must not act.
public struct EventContracts: Sendable {
    private let payloads: [String: JSONSchema]

    /// The contract compiled from the schemas built into this binary.
    public static let published: EventContracts = {
        do { return try EventContracts(schemaTexts: PublishedSchemas.byFile) } catch {
            // The schemas are generated from docs/events and compiled by EventContractTests.
            fatalError("published event schemas do not compile: \(error)")
        }
    }()

    /// The JSON text of every published schema by file name (`<Type>.v<N>.json`,
    /// `envelope.v1.json`), as built into this binary.
    public static var schemaTexts: [String: String] { PublishedSchemas.byFile }

    init(schemaTexts: [String: String]) throws {
        var payloads: [String: JSONSchema] = [:]
        for (file, text) in schemaTexts where file != "envelope.v1.json" {
            payloads[String(file.dropLast(".json".count))] = try JSONSchema(json: text)
        }
        self.payloads = payloads
    }

    /// Whether a schema is published for the type and version.
    public func knows(type: String, version: Int) -> Bool { payloads["\(type).v\(version)"] != nil }

    /// Checks the payload against its type's schema. The envelope itself was checked by
    /// `EventCodec.decode`.
    public func check(_ event: EventEnvelope) throws(EventContractViolation) {
        guard let schema = payloads["\(event.type).v\(event.version)"] else {
            throw EventContractViolation(eventType: event.type, version: event.version, problems: ["no schema is published for this type and version"])
        }
        // The cheap check first; the report only for the rare invalid event.
        if schema.isValid(event.payload) { return }
        let result = schema.validate(event.payload, maxErrors: 5)
        throw EventContractViolation(eventType: event.type, version: event.version, problems: result.errors.map { "\($0.instanceLocation.isEmpty ? "/" : $0.instanceLocation): \($0.message)" })
    }
}

extension EventContracts {
    /// Bytes from the log to an event that keeps the published contract: the envelope checked by
    /// `EventCodec.decode`, then the payload against its schema. Throws `EventDecodingError` or
    /// `EventContractViolation`; either way the record belongs on the dead-letter topic.
    public func decode(_ bytes: some Collection<UInt8>) throws -> EventEnvelope {
        let event = try EventCodec.decode(bytes)
        try check(event)
        return event
    }
}
