public import EventBus
import EventContracts
import Events
public import Foundation

/// A line of an import that is not a valid event; nothing from it on was imported.
public struct ImportLineError: Error, CustomStringConvertible {
    public var line: Int
    public var imported: Int
    public var reason: String
    public var description: String { "line \(line): \(reason) (\(imported) events before it were imported; fix the line and import from it on)" }
}

/// Appends exported events (JSON lines) to a topic, e.g. to seed another broker from an export.
/// Events keep their ids, so importing the same file twice appends duplicates that every reader
/// drops by id. Reads the input in chunks; never holds the file in memory.
public struct EventImporter: Sendable {
    public let publisher: EventPublisher
    public static let maxLineBytes = EventCodec.maxEventBytes + 1

    public init(publisher: EventPublisher) { self.publisher = publisher }

    /// Validates every line before appending it; stops at the first invalid line.
    @discardableResult
    public func importLines(from handle: FileHandle, dryRun: Bool = false) async throws -> Int {
        var imported = 0
        var lineNumber = 0
        var pending: [UInt8] = []
        func consume(_ line: ArraySlice<UInt8>) async throws {
            lineNumber += 1
            var bytes = line
            if bytes.last == 13 { bytes = bytes.dropLast() }
            if bytes.allSatisfy({ $0 == 32 || $0 == 9 }) { return }
            let event: EventEnvelope
            do {
                event = try EventContracts.published.decode(bytes)
            } catch {
                throw ImportLineError(line: lineNumber, imported: imported, reason: String(describing: error))
            }
            if !dryRun { try await publisher.publish(event) }
            imported += 1
        }
        while true {
            let chunk = try handle.read(upToCount: 256 * 1024) ?? Data()
            if chunk.isEmpty { break }
            pending.append(contentsOf: chunk)
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: 10) {
                try await consume(pending[start..<newline])
                start = newline + 1
            }
            pending.removeSubrange(..<start)
            if pending.count > Self.maxLineBytes {
                throw ImportLineError(line: lineNumber + 1, imported: imported, reason: "line longer than \(Self.maxLineBytes) bytes")
            }
        }
        if !pending.isEmpty { try await consume(pending[...]) }
        return imported
    }
}
