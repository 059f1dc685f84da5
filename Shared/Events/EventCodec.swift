public import Foundation
public import JSON

/// Why bytes from the log could not become an event. `field` names the envelope field at fault;
/// the record goes to the dead-letter topic with this description.
public struct EventDecodingError: Error, CustomStringConvertible, Sendable, Equatable {
    public var field: String?
    public var message: String
    public init(field: String?, message: String) {
        self.field = field
        self.message = message
    }
    public var description: String {
        if let field { return "invalid event envelope: \(field): \(message)" }
        return "invalid event envelope: \(message)"
    }
}

/// JSON wire format of the envelope (snake_case keys, sorted, compact), readable with kcat + jq.
public enum EventCodec {
    /// Upper bound for one encoded event; the broker default message limit is 1 MB.
    public static let maxEventBytes = 900 * 1024


    public static func encode(_ event: EventEnvelope) -> [UInt8] {
        var object: [String: JSONValue] = [
            "id": .string(event.id.lowercaseString),
            "type": .string(event.type),
            "version": .number(Double(event.version)),
            "conversation_id": .string(event.conversationID),
            "tenant_id": .string(event.tenantID),
            "occurred_at": .string(Timestamp.format(millis: event.occurredAtMillis)),
            "producer": .string(event.producer),
            "correlation_id": .string(event.correlationID.lowercaseString),
            "traceparent": .string(event.traceparent),
            "payload": event.payload,
        ]
        object["causation_id"] = event.causationID.map { .string($0.lowercaseString) } ?? .null
        return JSONValue.object(object).serialized(sortedKeys: true)
    }

    /// Parses and validates an envelope from untrusted bytes. Payload shape is checked later,
    /// by the typed decode of the consumer that cares about the type.
    public static func decode(_ bytes: some Collection<UInt8>) throws(EventDecodingError) -> EventEnvelope {
        guard bytes.count <= maxEventBytes else {
            throw EventDecodingError(field: nil, message: "event larger than \(maxEventBytes) bytes")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw EventDecodingError(field: nil, message: "not JSON: \(error)")
        }
        guard case .object(let object) = value else {
            throw EventDecodingError(field: nil, message: "envelope must be a JSON object")
        }
        func string(_ key: String) throws(EventDecodingError) -> String {
            guard case .string(let text)? = object[key] else {
                throw EventDecodingError(field: key, message: "required string")
            }
            return text
        }
        func uuid(_ key: String) throws(EventDecodingError) -> UUID {
            guard let id = UUID(canonical: try string(key)) else {
                throw EventDecodingError(field: key, message: "not a UUID")
            }
            return id
        }
        let type = try string("type")
        guard EnvelopeRules.isValidType(type) else {
            throw EventDecodingError(field: "type", message: "must match [A-Z][A-Za-z0-9]{0,63}")
        }
        guard case .number(let rawVersion)? = object["version"], rawVersion >= 1, rawVersion <= 1000,
              rawVersion == rawVersion.rounded()
        else { throw EventDecodingError(field: "version", message: "must be an integer 1...1000") }
        let conversationID = try string("conversation_id")
        guard EnvelopeRules.isValidAggregateID(conversationID) else {
            throw EventDecodingError(field: "conversation_id", message: "must be 1-128 characters of [A-Za-z0-9._:-]")
        }
        let tenantID = try string("tenant_id")
        guard EnvelopeRules.isValidTenantID(tenantID) else {
            throw EventDecodingError(field: "tenant_id", message: "must be 1-64 characters of [A-Za-z0-9._-]")
        }
        guard let millis = Timestamp.parse(try string("occurred_at")) else {
            throw EventDecodingError(field: "occurred_at", message: "must be UTC RFC 3339 with milliseconds, e.g. 2026-01-02T03:04:05.678Z")
        }
        let producer = try string("producer")
        guard !producer.isEmpty, producer.utf8.count <= 200 else {
            throw EventDecodingError(field: "producer", message: "must be 1-200 bytes")
        }
        var causationID: UUID?
        switch object["causation_id"] {
        case nil, .null?: causationID = nil
        default: causationID = try uuid("causation_id")
        }
        let traceparent = try string("traceparent")
        guard TraceContext(parsing: traceparent) != nil else {
            throw EventDecodingError(field: "traceparent", message: "not a W3C traceparent")
        }
        guard case .object? = object["payload"] else {
            throw EventDecodingError(field: "payload", message: "required object")
        }
        return EventEnvelope(
            id: try uuid("id"), type: type, version: Int(rawVersion), conversationID: conversationID, tenantID: tenantID,
            occurredAtMillis: millis, producer: producer, causationID: causationID, correlationID: try uuid("correlation_id"),
            traceparent: traceparent, payload: object["payload"]!
        )
    }
}

/// Identifier rules shared by the envelope and the HTTP edge.
public enum EnvelopeRules {
    public static func isValidAggregateID(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count) && id.utf8.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "-") }
    }
    public static func isValidTenantID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }
    public static func isValidType(_ type: String) -> Bool {
        guard let first = type.utf8.first, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) else { return false }
        return type.utf8.count <= 64 && type.utf8.allSatisfy(isAlnum)
    }
    static func isAlnum(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
    }
}

/// `occurred_at` format: `YYYY-MM-DDTHH:MM:SS.mmmZ`, always UTC, always milliseconds.
public enum Timestamp {
    public static func format(millis: Int64) -> String {
        var seconds = time_t(millis.dividedFloor(by: 1000))
        let ms = Int(millis - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // Hand-formatted: String(format:) goes through Foundation's CFString formatter, which
        // dominated encode profiles.
        return String(unsafeUninitializedCapacity: 24) { out in
            func put(_ value: Int, _ width: Int, at position: Int) {
                var value = value
                for offset in stride(from: width - 1, through: 0, by: -1) {
                    out[position + offset] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
            put(Int(parts.tm_year) + 1900, 4, at: 0)
            out[4] = UInt8(ascii: "-")
            put(Int(parts.tm_mon) + 1, 2, at: 5)
            out[7] = UInt8(ascii: "-")
            put(Int(parts.tm_mday), 2, at: 8)
            out[10] = UInt8(ascii: "T")
            put(Int(parts.tm_hour), 2, at: 11)
            out[13] = UInt8(ascii: ":")
            put(Int(parts.tm_min), 2, at: 14)
            out[16] = UInt8(ascii: ":")
            put(Int(parts.tm_sec), 2, at: 17)
            out[19] = UInt8(ascii: ".")
            put(ms, 3, at: 20)
            out[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    public static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count == 24, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "."), b[23] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for i in range {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) else { return nil }
                value = value * 10 + Int(b[i] - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
              let minute = number(14..<16), let second = number(17..<19), let ms = number(20..<23),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        // timegm normalises out-of-range days (Feb 30 → Mar 2); reject instead of guessing.
        guard Int(parts.tm_mday) == day, Int(parts.tm_mon) == month - 1 else { return nil }
        return Int64(seconds) * 1000 + Int64(ms)
    }
}

extension Int64 {
    func dividedFloor(by divisor: Int64) -> Int64 {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}

/// UUID text without Foundation's `uuid_parse`/`uuid_unparse` (sscanf/sprintf), which showed up
/// at the top of rebuild profiles: every envelope carries two or three of them.
extension UUID {
    /// Parses the canonical 8-4-4-4-12 hex form, either case.
    public init?(canonical text: String) {
        var bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var text = text
        let parsed: Bool = text.withUTF8 { utf8 in
            guard utf8.count == 36 else { return false }
            return withUnsafeMutableBytes(of: &bytes) { out -> Bool in
                var index = 0
                var byte = 0
                while index < 36 {
                    if index == 8 || index == 13 || index == 18 || index == 23 {
                        guard utf8[index] == UInt8(ascii: "-") else { return false }
                        index += 1
                        continue
                    }
                    guard let high = hexValue(utf8[index]), let low = hexValue(utf8[index + 1]) else { return false }
                    out[byte] = high << 4 | low
                    byte += 1
                    index += 2
                }
                return true
            }
        }
        guard parsed else { return nil }
        self.init(uuid: bytes)
    }

    /// The canonical form in lower case, as the envelope writes it.
    public var lowercaseString: String {
        let digits: StaticString = "0123456789abcdef"
        return withUnsafeBytes(of: uuid) { raw in
            String(unsafeUninitializedCapacity: 36) { out in
                var position = 0
                for (index, byte) in raw.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    out[position] = digits.utf8Start[Int(byte >> 4)]
                    out[position + 1] = digits.utf8Start[Int(byte & 0x0f)]
                    position += 2
                }
                return position
            }
        }
    }
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
