import Foundation
import Projections
import JSON
import Kafka
import Logging
import Postgres
import ServiceRuntime
import Synchronization

/// Load shedding at the door (docs/SECURITY.md): when more messages are held waiting for their
/// replies than `maxHeld`, or the planner has more than `maxLag` events of the log still to
/// read, a new message is refused with 503 and Retry-After rather than queued without bound,
/// and the customer is offered an answer by email instead (`POST …/answer-by-email`, recorded
/// on the log as `AnswerByEmailRequested`).
///
/// `SWITCHBOARD_SHED_MAX_HELD` (default 2000), `SWITCHBOARD_SHED_MAX_LAG` (events, default
/// 20000; 0 turns the lag check off).
final class LoadShedder: Sendable {
    struct Settings: Sendable {
        var maxHeld = 2000
        var maxLag: Int64 = 20_000

        static func fromEnvironment(_ environment: [String: String]) throws(ConfigError) -> Settings {
            var settings = Settings()
            if let text = environment["SWITCHBOARD_SHED_MAX_HELD"], !text.isEmpty {
                guard let value = Int(text), value >= 1 else { throw ConfigError("SWITCHBOARD_SHED_MAX_HELD must be a positive integer, got '\(text)'") }
                settings.maxHeld = value
            }
            if let text = environment["SWITCHBOARD_SHED_MAX_LAG"], !text.isEmpty {
                guard let value = Int64(text), value >= 0 else { throw ConfigError("SWITCHBOARD_SHED_MAX_LAG must be 0 (off) or a positive integer, got '\(text)'") }
                settings.maxLag = value
            }
            return settings
        }
    }

    enum Refusal: Equatable {
        case tooManyHeld(Int)
        case lagging(Int64)
    }

    let settings: Settings
    private let held = Mutex(0)
    private let lag = Mutex<Int64>(0)

    init(settings: Settings) { self.settings = settings }

    /// Takes a place for a message, or says why there is none.
    func enter() -> Refusal? {
        let lag = self.lag.withLock { $0 }
        if settings.maxLag > 0, lag > settings.maxLag { return .lagging(lag) }
        return held.withLock { count in
            guard count < settings.maxHeld else { return .tooManyHeld(count) }
            count += 1
            return nil
        }
    }

    func leave() { held.withLock { $0 = max(0, $0 - 1) } }

    func record(lag value: Int64) { lag.withLock { $0 = value } }

    var currentLag: Int64 { lag.withLock { $0 } }

    /// The 503 a refused message gets.
    static func problem(_ refusal: Refusal, conversationID: String) -> ProblemDetails {
        let why: String
        switch refusal {
        case .tooManyHeld: why = "too many conversations are waiting for answers"
        case .lagging: why = "answers are running behind"
        }
        var problem = ProblemDetails(
            .serviceUnavailable, kind: "overloaded",
            title: "We're very busy right now (\(why)). Please try again in a few seconds, or leave your email address and we'll answer there.",
            headers: [.retryAfter: "5"])
        problem.extensions["answer_by_email"] = .string("/v1/conversations/\(conversationID)/answer-by-email")
        return problem
    }

    /// The planner's lag on the conversation log: for each partition, the log's end minus the
    /// next offset its reactions will read (kept in Postgres with its state). Measured every
    /// `interval` by the gateway; a failed measurement keeps the last value.
    static func measurePlannerLag(admin: KafkaAdmin, pool: PostgresPool, topic: String, group: String = "switchboard.planner") async throws -> Int64 {
        try await ConsumerLag.measure(admin: admin, pool: pool, topic: topic, owner: group).values.reduce(0, +)
    }
}
