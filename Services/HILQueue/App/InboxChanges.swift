import Foundation
import Hummingbird
import NIOCore
import Postgres
import ServiceRuntime
import Events

/// Live updates for open inboxes (`GET /v1/hil/stream`): one query a second per HILQueue
/// process, however many inboxes are open, over the queue's read models; when what it reads
/// changes (a conversation moved, a message or note arrived, an approval came or was decided),
/// every open inbox gets `event: changed` and fetches what it shows again.
actor InboxChanges {
    let pool: PostgresPool
    let tenant: String
    let schema: String
    private var subscribers: [UUID: AsyncStream<String>.Continuation] = [:]
    private var poller: Task<Void, Never>?
    private var last: String?

    init(pool: PostgresPool, tenant: String, schema: String) {
        (self.pool, self.tenant, self.schema) = (pool, tenant, schema)
    }

    func subscribe() -> (UUID, AsyncStream<String>) {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(4))
        subscribers[id] = continuation
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
        subscribers.removeValue(forKey: id)?.finish()
        if subscribers.isEmpty {
            poller?.cancel()
            poller = nil
            last = nil
        }
    }

    func shutdown() {
        poller?.cancel()
        for continuation in subscribers.values { continuation.finish() }
        subscribers = [:]
    }

    /// A fingerprint of what inboxes show: conversations' activity and phases, approvals.
    private func poll() async {
        do {
            let rows = try await pool.query("""
                SELECT (SELECT coalesce(max(last_activity_at)::text, '') || '/' || count(*) FILTER (WHERE phase = 'pending_human') || '/' || count(*) FILTER (WHERE phase = 'human_active')
                          FROM \(identifier: schema).conversations WHERE tenant_id = \(tenant))
                    || '|' ||
                       (SELECT count(*) FILTER (WHERE status = 'pending') || '/' || coalesce(max(coalesce(decided_at, requested_at))::text, '')
                          FROM \(identifier: schema).approvals WHERE tenant_id = \(tenant)) AS fingerprint
                """)
            let fingerprint = try rows.first(where: { _ in true })?.decode("fingerprint", as: String.self) ?? ""
            guard fingerprint != last else { return }
            last = fingerprint
            for continuation in subscribers.values { continuation.yield(fingerprint) }
        } catch {
            // The next second tries again; inboxes keep what they show meanwhile.
        }
    }

    /// The SSE response: `event: changed` at once (so a new inbox loads) and on every change,
    /// a comment every 15 s to keep the connection open through proxies.
    func response() -> Response {
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (id, changes) = await self.subscribe()
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
        subscribers[id]?.yield("")
    }
}
