import Foundation
import HTTPClient
import JSON
import Logging
import MCP

/// The MCP "streamable HTTP" transport over libcurl (`HTTPClient`): every client message is a
/// POST to the server's endpoint; the answer is one JSON message or a `text/event-stream` of
/// messages (notifications, then the response), both read whole. The session id the server
/// gives at `initialize` (`Mcp-Session-Id`) and the negotiated protocol version go on every
/// later request; a 404 for a known session means the server forgot it, and the transport is
/// done (the executor starts a new session). The SDK's own HTTP transport cannot read
/// event-stream answers on Linux, which most servers send.
///
/// No GET stream for server-initiated messages: a tool call's answer always comes on its POST.
actor MCPHTTPTransport: Transport {
    nonisolated let logger: Logger
    let url: String
    let headers: HTTPHeaders
    let timeout: Duration
    let client: HTTPClient
    var sessionID: String?
    var protocolVersion: String?
    private(set) var isUsable = true
    private let messages: AsyncThrowingStream<Data, any Error>
    private let sink: AsyncThrowingStream<Data, any Error>.Continuation

    init(url: String, headers: HTTPHeaders, timeout: Duration, client: HTTPClient, logger: Logger) {
        (self.url, self.headers, self.timeout, self.client, self.logger) = (url, headers, timeout, client, logger)
        (messages, sink) = AsyncThrowingStream.makeStream()
    }

    func connect() async throws {}

    /// Ends the session on the server (best effort: a server may not allow it) and the stream.
    func disconnect() async {
        if let sessionID, isUsable {
            _ = try? await client.execute(MCPHTTPExchange.endSession(url: url, headers: headers, sessionID: sessionID))
        }
        isUsable = false
        sink.finish()
    }

    func receive() -> AsyncThrowingStream<Data, any Error> { messages }

    func send(_ data: Data) async throws {
        guard isUsable else { throw MCPError("the MCP session at \(url) has ended") }
        let request = MCPHTTPExchange.post(url: url, headers: headers, body: Array(data), sessionID: sessionID, protocolVersion: protocolVersion, timeout: timeout)
        let response: MCPHTTPExchange.Response
        do {
            response = try await client.execute(request)
        } catch {
            throw MCPError("mcp server at \(url): \(error)")
        }
        let answer: MCPHTTPExchange.Answer
        do {
            answer = try MCPHTTPExchange.read(response, sessionID: sessionID)
        } catch {
            if response.status == 404 { isUsable = false }
            throw error
        }
        if sessionID == nil, let id = answer.sessionID { sessionID = id }
        for message in answer.messages {
            if protocolVersion == nil, let version = message["result"]?["protocolVersion"]?.stringValue { protocolVersion = version }
            sink.yield(Data(message.serialized(sortedKeys: false)))
        }
    }
}
