import Events
import Foundation

/// Requests holding open for their turn's reply (`?wait=N`). Every gateway replica tails the
/// whole log for `ReplyDelivered`, so the replica holding the request sees the reply whichever
/// replica delivered it. A slot is prepared before the message is appended, so a fast reply
/// cannot arrive before anyone listens, and lives until the request stops waiting (`finish`):
/// a reply that arrives between two waits is kept for the next one, never dropped.
actor ReplyWaiters {
    private enum Slot {
        case waiting(CheckedContinuation<ReplyDelivered?, Never>?)
        case delivered(ReplyDelivered)
    }
    private var slots: [UUID: Slot] = [:]
    private(set) var isTailReady = false

    func markTailReady() { isTailReady = true }

    private var isShuttingDown = false

    /// Starts listening for the turn; keeps a reply that already arrived.
    func prepare(_ turnID: UUID) {
        guard !isShuttingDown else { return }
        if slots[turnID] == nil { slots[turnID] = .waiting(nil) }
    }

    /// Graceful shutdown: every held request is answered now (202; the reply still reaches the
    /// read model), so HTTP can drain without waiting out `?wait`.
    func shutdown() {
        isShuttingDown = true
        for (_, slot) in slots {
            if case .waiting(let continuation?) = slot { continuation.resume(returning: nil) }
        }
        slots.removeAll()
    }

    func deliver(_ turnID: UUID, _ reply: ReplyDelivered) {
        switch slots[turnID] {
        case .waiting(let continuation?):
            slots[turnID] = nil
            continuation.resume(returning: reply)
        case .waiting(nil):
            slots[turnID] = .delivered(reply)
        case .delivered, nil:
            return
        }
    }

    /// The reply, or nil when `timeout` passes first; the slot stays until `finish`.
    nonisolated func wait(_ turnID: UUID, timeout: Duration) async -> ReplyDelivered? {
        await withTaskGroup(of: ReplyDelivered?.self) { group in
            group.addTask { await self.suspend(turnID) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                await self.stopWaiting(turnID)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            await self.stopWaiting(turnID)
            return first
        }
    }

    /// The request no longer waits: its slot goes, with a reply nobody took.
    func finish(_ turnID: UUID) {
        if case .waiting(let continuation?) = slots[turnID] {
            continuation.resume(returning: nil)
        }
        slots[turnID] = nil
    }

    private func suspend(_ turnID: UUID) async -> ReplyDelivered? {
        switch slots[turnID] {
        case .delivered(let reply):
            slots[turnID] = nil
            return reply
        case .waiting, nil:
            if isShuttingDown { return nil }
            // Cancelled before it got here (timeout won): `stopWaiting` already ran, so
            // nobody would resume a continuation stored now.
            if Task.isCancelled { return nil }
            return await withCheckedContinuation { continuation in
                slots[turnID] = .waiting(continuation)
            }
        }
    }

    /// Ends one wait; the slot keeps listening (a reply arriving now is kept).
    private func stopWaiting(_ turnID: UUID) {
        if case .waiting(let continuation?) = slots[turnID] {
            continuation.resume(returning: nil)
            slots[turnID] = .waiting(nil)
        }
    }

    var count: Int { slots.count }
    var isShuttingDownNow: Bool { isShuttingDown }
}
