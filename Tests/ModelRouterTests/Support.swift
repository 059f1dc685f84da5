import Foundation
import ModelRouter
import Synchronization

/// A clock tests move by hand.
final class FakeClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)

    var now: @Sendable () -> ContinuousClock.Instant {
        { [self] in instant.withLock { $0 } }
    }

    func advance(by duration: Duration) {
        instant.withLock { $0 = $0.advanced(by: duration) }
    }
}

/// Fixed spends; records which questions were asked.
final class FakeSpendSource: SpendSource {
    struct Failure: Error, CustomStringConvertible {
        var description: String { "ledger down" }
    }

    let tenantSpend: @Sendable (Date) -> Int64
    let conversationSpend: Int64
    let fails: Bool
    private let askedSince = Mutex<[Date]>([])

    init(fails: Bool = false, conversation: Int64 = 0, tenant: @escaping @Sendable (Date) -> Int64 = { _ in 0 }) {
        self.fails = fails
        self.conversationSpend = conversation
        self.tenantSpend = tenant
    }

    var tenantQueries: [Date] { askedSince.withLock { $0 } }

    func spend(tenant: String, since: Date) async throws -> Int64 {
        askedSince.withLock { $0.append(since) }
        if fails { throw Failure() }
        return tenantSpend(since)
    }

    func spend(conversation: String) async throws -> Int64 {
        if fails { throw Failure() }
        return conversationSpend
    }
}

func utc(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.date(from: text)!
}
