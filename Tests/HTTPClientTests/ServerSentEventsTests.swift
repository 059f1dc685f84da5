import HTTPClient
import Testing

struct ServerSentEventsTests {
    @Test(arguments: [
        // (body, expected events)
        ("data: one\n\n", [ServerSentEvent(data: "one")]),
        ("event: message\r\ndata: {\"a\":1}\r\n\r\n", [ServerSentEvent(event: "message", data: "{\"a\":1}")]),
        ("data:no space\rdata:  two spaces\r\r", [ServerSentEvent(data: "no space\n two spaces")]),
        (": a comment\n\nid: 7\ndata: x\nretry: 10\nunknown: y\n\n", [ServerSentEvent(data: "x", id: "7")]),
        ("event: ping\n\ndata: after\n\n", [ServerSentEvent(data: "after")]),  // no data: not dispatched; the type resets
        ("data: first\n\ndata: unfinished", [ServerSentEvent(data: "first")]),  // the stream ended mid-event
        ("\u{FEFF}data: bom\n\n", [ServerSentEvent(data: "bom")]),
        ("data\n\n", [ServerSentEvent(data: "")]),  // a field without a colon has an empty value
        ("id: 1\ndata: a\n\ndata: b\n\n", [ServerSentEvent(data: "a", id: "1"), ServerSentEvent(data: "b", id: "1")]),  // the last id stays
    ])
    func parses(body: String, expected: [ServerSentEvent]) {
        #expect(ServerSentEvents.parse(Array(body.utf8)) == expected)
    }
}
