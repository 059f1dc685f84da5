import Crypto
public import Foundation

/// Name-based UUIDs (RFC 9562 version 5). Ids derived from the causing event are how a
/// reaction stays the same event when a handler runs twice.
public enum DerivedID {
    /// Namespace of Switchboard's derived ids (a fixed random UUID).
    public static let namespace = UUID(uuidString: "5b1f3c8e-2d4a-4f7b-9c1e-8a2b3c4d5e6f")!

    public static func make(from base: UUID, label: String) -> UUID {
        make(name: base.uuidString.lowercased() + "/" + label)
    }

    public static func make(name: String) -> UUID {
        var bytes = [UInt8]()
        withUnsafeBytes(of: namespace.uuid) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array(name.utf8))
        var hash = Array(Insecure.SHA1.hash(data: bytes)).prefix(16).map { $0 }
        hash[6] = (hash[6] & 0x0F) | 0x50
        hash[8] = (hash[8] & 0x3F) | 0x80
        return UUID(uuid: (hash[0], hash[1], hash[2], hash[3], hash[4], hash[5], hash[6], hash[7],
                           hash[8], hash[9], hash[10], hash[11], hash[12], hash[13], hash[14], hash[15]))
    }
}

/// W3C trace context (`traceparent` header). Span ids are derived from event ids so a replayed
/// reaction carries the same trace as the original.
public struct TraceContext: Sendable, Hashable {
    public var traceID: String   // 32 lowercase hex
    public var spanID: String    // 16 lowercase hex
    public var flags: String     // 2 hex

    public init?(parsing header: String) {
        // Byte-wise: this runs for every event decoded, and Character-based splitting showed
        // up in rebuild profiles. Layout: "00-" 32 hex "-" 16 hex "-" 2 hex.
        let bytes = Array(header.utf8)
        guard bytes.count == 55, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "0"),
              bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-")
        else { return nil }
        func isHex(_ range: Range<Int>) -> Bool {
            bytes[range].allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0 | 0x20) }
        }
        func isAllZero(_ range: Range<Int>) -> Bool { bytes[range].allSatisfy { $0 == UInt8(ascii: "0") } }
        guard isHex(3..<35), isHex(36..<52), isHex(53..<55), !isAllZero(3..<35), !isAllZero(36..<52) else { return nil }
        func lower(_ range: Range<Int>) -> String {
            String(decoding: bytes[range].map { (UInt8(ascii: "A")...UInt8(ascii: "F")).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
        }
        traceID = lower(3..<35)
        spanID = lower(36..<52)
        flags = lower(53..<55)
    }

    init(traceID: String, spanID: String, flags: String) {
        self.traceID = traceID
        self.spanID = spanID
        self.flags = flags
    }

    public var header: String { "00-\(traceID)-\(spanID)-\(flags)" }

    public static func root(seed: UUID) -> TraceContext {
        let hex = Self.hex(seed)
        return TraceContext(traceID: hex, spanID: String(hex.prefix(16)), flags: "01")
    }

    public func child(spanSeed: UUID) -> TraceContext {
        TraceContext(traceID: traceID, spanID: String(Self.hex(spanSeed).suffix(16)), flags: flags)
    }

    static func hex(_ uuid: UUID) -> String {
        String(uuid.lowercaseString.filter { $0 != "-" })
    }
}
