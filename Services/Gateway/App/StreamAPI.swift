import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ReadModels
import ServiceRuntime

extension GatewayAPI {
    /// `GET /v1/conversations/{id}/stream`: the conversation's messages as server-sent events
    /// (`event: message`, `id: <partition>-<offset>` of the event on the log), first those
    /// already there, then live ones: the AI's replies, a human agent's, an approved action's,
    /// and the customer's own (another device). `Last-Event-ID` (or `?last_event_id=`, for a
    /// first connection that knows where it is) resumes after that position, so a reconnect,
    /// to this replica or any other, misses nothing and repeats nothing.
    ///
    /// The history comes from the read model and the live part from this replica's tail of the
    /// log; the tail's recent messages cover the read model's lag, and positions drop repeats.
    func stream(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let conversationID = try Self.conversationID(context)
        let resumeFrom = request.headers[HTTPField.Name("Last-Event-ID")!] ?? request.uri.queryParameters.get("last_event_id").map { String($0) }
        var resumeAfter: Int64 = -1
        if let resumeFrom, !resumeFrom.isEmpty {
            guard let offset = StreamedMessage.offset(fromEventID: resumeFrom) else {
                throw ProblemDetails(.badRequest, kind: "invalid-last-event-id", title: "Last-Event-ID must be an id this stream sent (<partition>-<offset>)", field: "Last-Event-ID")
            }
            resumeAfter = offset
        }
        let after = resumeAfter
        // A conversation of another tenant is not streamed; one that is not on the read model
        // yet (the stream opened right after the first message) is.
        if let known = try await conversations.conversation(conversationID, tenant: nil), known.tenantID != tenantID {
            throw ProblemDetails(.notFound, kind: "conversation-not-found", title: "No conversation with this id", field: "id")
        }
        let streams = self.streams
        let conversations = self.conversations
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (id, live, recent) = await streams.subscribe(conversation: conversationID)
            do {
                var sent = after
                func send(_ message: StreamedMessage) async throws {
                    guard message.offset > sent else { return }
                    try await writer.write(ByteBuffer(string: message.sse))
                    sent = message.offset
                }
                try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                let history = try await conversations.messages(conversation: conversationID, after: after).map(StreamedMessage.init)
                for message in (history + recent).sorted(by: { $0.offset < $1.offset }) { try await send(message) }
                for await item in live {
                    switch item {
                    case .message(let message): try await send(message)
                    case .keepalive: try await writer.write(ByteBuffer(string: ": keepalive\n\n"))
                    }
                }
                await streams.unsubscribe(conversation: conversationID, id: id)
                try await writer.finish(nil)
            } catch {
                // The client went away (or the read model failed): the stream just ends.
                await streams.unsubscribe(conversation: conversationID, id: id)
                throw error
            }
        })
    }
}
