public import Events
public import Foundation
public import Kafka

/// Output formats of `switchboard events export|tail`.
public enum ExportFormat: String, Sendable, CaseIterable {
    /// One envelope per line, exactly as on the log: what `events import` reads back.
    case jsonl
    /// One row per event with the envelope's fields and the log position; payload as JSON text.
    case csv
}

/// Writes events as they arrive through a small buffer: an export never holds a topic in memory.
/// Used from one consumer handler at a time.
public final class EventWriter: @unchecked Sendable {
    private let handle: FileHandle
    private let format: ExportFormat
    private var buffer: [UInt8] = []
    private var wroteHeader = false

    public static let csvColumns = [
        "topic", "partition", "offset", "id", "type", "version", "conversation_id", "tenant_id",
        "occurred_at", "producer", "causation_id", "correlation_id", "traceparent", "payload",
    ]

    public init(handle: FileHandle, format: ExportFormat) {
        self.handle = handle
        self.format = format
    }

    public func write(_ record: KafkaRecord, _ event: EventEnvelope) throws {
        switch format {
        case .jsonl:
            buffer.append(contentsOf: EventCodec.encode(event))
            buffer.append(UInt8(ascii: "\n"))
        case .csv:
            if !wroteHeader {
                appendRow(Self.csvColumns)
                wroteHeader = true
            }
            appendRow([
                record.topic, String(record.partition), String(record.offset), event.id.uuidString.lowercased(), event.type,
                String(event.version), event.conversationID, event.tenantID, Timestamp.format(millis: event.occurredAtMillis),
                event.producer, event.causationID?.uuidString.lowercased() ?? "", event.correlationID.uuidString.lowercased(),
                event.traceparent, String(decoding: event.payload.serialized(), as: UTF8.self),
            ])
        }
        if buffer.count >= 64 * 1024 { try flush() }
    }

    /// Writes an empty CSV's header so the output is a valid table even with no rows.
    public func finish() throws {
        if format == .csv, !wroteHeader {
            appendRow(Self.csvColumns)
            wroteHeader = true
        }
        try flush()
    }

    public func flush() throws {
        guard !buffer.isEmpty else { return }
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// RFC 4180: fields with a comma, quote, CR or LF are quoted, quotes doubled; CRLF rows.
    private func appendRow(_ fields: [String]) {
        for (index, field) in fields.enumerated() {
            if index > 0 { buffer.append(UInt8(ascii: ",")) }
            if field.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 13 || $0 == 10 }) {
                buffer.append(UInt8(ascii: "\""))
                for byte in field.utf8 {
                    if byte == UInt8(ascii: "\"") { buffer.append(byte) }
                    buffer.append(byte)
                }
                buffer.append(UInt8(ascii: "\""))
            } else {
                buffer.append(contentsOf: field.utf8)
            }
        }
        buffer.append(contentsOf: [13, 10])
    }
}
