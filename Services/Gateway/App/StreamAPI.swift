import Auth
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
    func stream(_ request: Request, context: EdgeRequestContext, principal: Principal) async throws -> Response {
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
        // A conversation of another tenant (or customer) is not streamed; one that is not on
        // the read model yet (the stream opened right after the first message) is: live
        // messages are checked against the caller as they come.
        let (allowed, known) = try await visible(conversationID, to: principal)
        guard allowed else { throw Self.conversationNotFound }
        let tenantID = principal.tenantID
        let customerID = principal.kind == .customerSession ? principal.customerID : nil
        let checked = known != nil
        let streams = self.streams
        let conversations = self.conversations
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (id, live, recent) = await streams.subscribe(conversation: conversationID)
            do {
                var sent = after
                var forbidden = false
                func send(_ message: StreamedMessage) async throws {
                    guard message.offset > sent else { return }
                    // Someone else's conversation id: nothing of it is forwarded, and a customer
                    // session that meets another customer's message ends its stream.
                    if let owner = message.tenantID, owner != tenantID { return }
                    if let customerID, let author = message.customerID, author != customerID { forbidden = true }
                    guard !forbidden else { return }
                    try await writer.write(ByteBuffer(string: message.sse))
                    sent = message.offset
                }
                try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                // A conversation unknown when the stream opened may have been projected since:
                // its history is shown only if it turned out to be the caller's.
                var history: [StreamedMessage] = []
                let shown = try await checked ? true : self.visible(conversationID, to: principal).allowed
                if shown {
                    history = try await conversations.messages(conversation: conversationID, after: after).map(StreamedMessage.init)
                }
                for message in (history + recent).sorted(by: { $0.offset < $1.offset }) { try await send(message) }
                reading: for await item in live {
                    switch item {
                    case .message(let message):
                        try await send(message)
                        if forbidden { break reading }
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
