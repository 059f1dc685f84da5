import HTTPClient
import JSON

/// One POST of the streamable HTTP transport and reading its answer; shared by the async
/// transport and the blocking discovery client.
enum MCPHTTPExchange {
    // The MCP module has types of these names too.
    typealias Request = HTTPRequest
    typealias Response = HTTPResponse

    /// Ends a session on the server (DELETE with its id).
    static func endSession(url: String, headers: HTTPHeaders, sessionID: String) -> Request {
        var request = Request(method: "DELETE", url: url, headers: headers, timeout: .seconds(2))
        request.headers.replaceOrAdd(name: "Mcp-Session-Id", value: sessionID)
        return request
    }

    struct Answer {
        var messages: [JSONValue]
        var sessionID: String?
    }

    static func post(url: String, headers: HTTPHeaders, body: [UInt8], sessionID: String?, protocolVersion: String?, timeout: Duration) -> Request {
        var request = Request(method: "POST", url: url, headers: headers, body: body, timeout: timeout)
        request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        request.headers.replaceOrAdd(name: "Accept", value: "application/json, text/event-stream")
        if let sessionID { request.headers.replaceOrAdd(name: "Mcp-Session-Id", value: sessionID) }
        if let protocolVersion { request.headers.replaceOrAdd(name: "MCP-Protocol-Version", value: protocolVersion) }
        return request
    }

    /// The JSON-RPC messages of an answer: none for 202 (a notification accepted), one for a
    /// JSON body, each event's data for an event stream.
    static func read(_ response: Response, sessionID: String?) throws -> Answer {
        let newSession = response.headers["Mcp-Session-Id"]
        switch response.status {
        case 202: return Answer(messages: [], sessionID: newSession)
        case 200..<300: break
        case 404 where sessionID != nil: throw MCPError("the server ended session \(sessionID!) (HTTP 404)")
        case 401, 403: throw MCPError("the server refused the credentials (HTTP \(response.status))")
        default:
            let detail = String(decoding: response.body.prefix(300), as: UTF8.self)
            throw MCPError("HTTP \(response.status)" + (detail.isEmpty ? "" : ": \(detail)"))
        }
        let contentType = (response.headers["Content-Type"] ?? "").lowercased()
        var messages: [JSONValue] = []
        if contentType.hasPrefix("text/event-stream") {
            for event in ServerSentEvents.parse(response.body) where event.event == nil || event.event == "message" {
                messages.append(try parse(Array(event.data.utf8)))
            }
        } else if contentType.hasPrefix("application/json") {
            // A JSON answer may be one message or a batch.
            switch try parse(response.body) {
            case .array(let batch): messages = batch
            case let single: messages = [single]
            }
        } else if !response.body.isEmpty {
            throw MCPError("unexpected content type '\(contentType)'")
        }
        return Answer(messages: messages, sessionID: newSession)
    }

    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        do { return try JSONValue.parse(bytes) } catch { throw MCPError("not a JSON-RPC message: \(error)") }
    }
}
