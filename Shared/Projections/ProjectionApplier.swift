import EventBus
public import Postgres

/// Hands a batch of events to projections inside the caller's transaction: the one path both
/// the live consumer and rebuilds take, so a read model has one implementation.
public enum ProjectionApplier {
    /// An event a projection could not apply for a reason retrying cannot fix (a bug, a
    /// constraint violation, a payload that does not fit its type). It was skipped by that
    /// projection only; the caller dead-letters it after committing.
    public struct Failure: Sendable {
        public var event: LoggedEvent
        public var projection: String
        public var error: String
    }

    /// Applies to each projection the events it takes (by type, and `wants`), in one `apply`
    /// per projection. Errors that may pass (a lost connection) are rethrown, so the caller
    /// retries the transaction.
    ///
    /// `careful`: each projection's batch runs in a savepoint and, if it fails, again event by
    /// event, each in its own savepoint; the events that still fail are skipped and returned.
    /// Callers first try without (two statements fewer per projection) and, when the
    /// transaction fails for a reason that is not transient, redo it carefully.
    public static func apply(
        _ events: [LoggedEvent], to projections: [any Projection], careful: Bool,
        wants: (_ projection: Int, _ event: LoggedEvent) -> Bool = { _, _ in true },
        in connection: PostgresConnection
    ) throws -> [Failure] {
        var failures: [Failure] = []
        for (index, projection) in projections.enumerated() {
            let interest = projection.interestedIn
            let taken = events.filter { (interest?.contains($0.event.type) ?? true) && wants(index, $0) }
            guard !taken.isEmpty else { continue }
            guard careful else {
                try projection.apply(taken, in: connection)
                continue
            }
            if try inSavepoint(connection, { try projection.apply(taken, in: connection) }) != nil {
                for event in taken {
                    if let error = try inSavepoint(connection, { try projection.apply([event], in: connection) }) {
                        failures.append(Failure(event: event, projection: projection.name, error: String(describing: error)))
                    }
                }
            }
        }
        return failures
    }

    /// Runs `body` in a savepoint; returns its error after rolling back to the savepoint, or
    /// rethrows it when retrying may help.
    static func inSavepoint(_ connection: PostgresConnection, _ body: () throws -> Void) throws -> (any Error)? {
        try connection.execute(simple: "SAVEPOINT apply_batch")
        do {
            try body()
            try connection.execute(simple: "RELEASE SAVEPOINT apply_batch")
            return nil
        } catch {
            if isTransient(error) { throw error }
            try connection.execute(simple: "ROLLBACK TO SAVEPOINT apply_batch")
            return error
        }
    }

    /// A database or broker outage: the transaction is retried, nothing is skipped.
    public static func isTransient(_ error: any Error) -> Bool {
        (error as? any RetriableError)?.isRetriable ?? false
    }
}
