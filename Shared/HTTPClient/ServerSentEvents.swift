/// One event of a `text/event-stream` body (the WHATWG HTML "server-sent events" format).
public struct ServerSentEvent: Sendable, Equatable {
    /// `event:`; nil means the default type, `message`.
    public var event: String?
    /// The `data:` lines joined with newlines.
    public var data: String
    /// `id:`, when the event set one.
    public var id: String?

    public init(event: String? = nil, data: String, id: String? = nil) {
        (self.event, self.data, self.id) = (event, data, id)
    }
}

public enum ServerSentEvents {
    /// The events of a complete stream body: lines end with CRLF, LF or CR; a blank line ends
    /// an event; comment lines (`:`) and unknown fields are skipped; an event without data is
    /// not dispatched, nor is a last event the stream ended before its blank line.
    public static func parse(_ body: [UInt8]) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        var data: [String] = []
        var event: String?
        var id: String?
        var text = String(decoding: body, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        // Splitting on "\n" alone keeps "\r\n" together as one Character: split on all three.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
        for line in lines.dropLast() {  // what follows the last line break is an unfinished line
            if line.isEmpty {
                if !data.isEmpty { events.append(ServerSentEvent(event: event, data: data.joined(separator: "\n"), id: id)) }
                (data, event) = ([], nil)
                continue
            }
            if line.hasPrefix(":") { continue }
            let field: Substring
            var value: Substring
            if let colon = line.firstIndex(of: ":") {
                field = line[..<colon]
                value = line[line.index(after: colon)...]
                if value.hasPrefix(" ") { value = value.dropFirst() }
            } else {
                (field, value) = (line, "")
            }
            switch field {
            case "data": data.append(String(value))
            case "event": event = String(value)
            case "id" where !value.contains("\0"): id = String(value)
            default: break
            }
        }
        return events
    }
}
