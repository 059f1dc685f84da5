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
        let parts = header.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "00", parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
              parts[1...3].allSatisfy({ $0.allSatisfy(\.isHexDigit) }),
              parts[1] != String(repeating: "0", count: 32), parts[2] != String(repeating: "0", count: 16)
        else { return nil }
        traceID = parts[1].lowercased()
        spanID = parts[2].lowercased()
        flags = parts[3].lowercased()
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
        withUnsafeBytes(of: uuid.uuid) { raw in raw.map { String(format: "%02x", $0) }.joined() }
    }
}
