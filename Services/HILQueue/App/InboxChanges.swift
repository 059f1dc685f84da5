import Foundation
import Hummingbird
import NIOCore
import ReadModels
import ServiceRuntime
import Events

/// Live updates for open inboxes (`GET /v1/hil/stream`): once a second per HILQueue process,
/// however many inboxes are open, it reads a fingerprint of what inboxes show (the queue's and
/// approvals' read models, and the gateway's for messages in conversations with humans); when
/// it changes, every open inbox gets `event: changed` and fetches what it shows again. Each
/// tenant's inboxes hear only of their own tenant's changes.
actor InboxChanges {
    let handovers: HandoverQueries
    let approvals: ApprovalQueries
    let conversations: ConversationQueries
    private var subscribers: [UUID: (tenant: String, continuation: AsyncStream<String>.Continuation)] = [:]
    private var poller: Task<Void, Never>?
    private var last: [String: String] = [:]

    init(handovers: HandoverQueries, approvals: ApprovalQueries, conversations: ConversationQueries) {
        (self.handovers, self.approvals, self.conversations) = (handovers, approvals, conversations)
    }

    func subscribe(tenant: String) -> (UUID, AsyncStream<String>) {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(4))
        subscribers[id] = (tenant, continuation)
        if poller == nil {
            poller = Task { [weak self] in
                while !Task.isCancelled {
                    await self?.poll()
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        return (id, stream)
    }

    func unsubscribe(_ id: UUID) {
        subscribers.removeValue(forKey: id)?.continuation.finish()
        if subscribers.isEmpty {
            poller?.cancel()
            poller = nil
            last = [:]
        }
    }

    func shutdown() {
        poller?.cancel()
        for subscriber in subscribers.values { subscriber.continuation.finish() }
        subscribers = [:]
    }

    /// A fingerprint of what inboxes show: conversations' activity and phases, approvals.
    private func poll() async {
        for tenant in Set(subscribers.values.map(\.tenant)) {
            do {
                let fingerprint = [
                    try await handovers.fingerprint(tenant: tenant), try await approvals.fingerprint(tenant: tenant),
                    try await conversations.withHumansFingerprint(tenant: tenant),
                ].joined(separator: "|")
                guard fingerprint != last[tenant] else { continue }
                last[tenant] = fingerprint
                for subscriber in subscribers.values where subscriber.tenant == tenant { subscriber.continuation.yield(fingerprint) }
            } catch {
                // The next second tries again; inboxes keep what they show meanwhile.
            }
        }
    }

    /// The SSE response: `event: changed` at once (so a new inbox loads) and on every change,
    /// a comment every 15 s to keep the connection open through proxies.
    func response(tenant: String) -> Response {
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (id, changes) = await self.subscribe(tenant: tenant)
            let keepalive = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(15))
                    await self.ping(id)
                }
            }
            defer { keepalive.cancel() }
            do {
                try await writer.write(ByteBuffer(string: "retry: 2000\nevent: changed\ndata: {}\n\n"))
                for await fingerprint in changes {
                    let text = fingerprint == "" ? ": keepalive\n\n" : "event: changed\ndata: {\"at\":\"\(Timestamp.format(millis: Int64(Date().timeIntervalSince1970 * 1000)))\"}\n\n"
                    try await writer.write(ByteBuffer(string: text))
                }
                await self.unsubscribe(id)
                try await writer.finish(nil)
            } catch {
                await self.unsubscribe(id)
                throw error
            }
        })
    }

    /// An empty fingerprint to one subscriber: written as a keepalive comment.
    private func ping(_ id: UUID) {
        subscribers[id]?.continuation.yield("")
    }
}
