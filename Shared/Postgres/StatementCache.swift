/// Which statements a connection has prepared. Parsing and planning were most of Postgres's
/// CPU per turn (docs/BENCHMARKS.md): the services run the same few dozen statements over and
/// over, so each is prepared on its second use and executed by name afterwards.
///
/// - Keyed by SQL text and parameter types: the same text with other types is another
///   statement.
/// - Statements seen once are only counted (a one-off query is not prepared), and both tables
///   are bounded: past the limits new texts run unprepared, so dynamic SQL cannot grow a
///   connection's memory on either side.
/// - Prepared statements survive ROLLBACK and outlive schema changes safely: Postgres re-plans
///   a statement when a table it uses changes, and renaming a schema (the rebuild swap)
///   resets every cached plan, so a statement naming `gateway.audit_log` finds the new table.
struct StatementCache {
    enum Decision: Equatable {
        case prepared(String)
        case prepare(String)
        case runUnprepared
    }

    static let maxPrepared = 256
    static let maxSeen = 1024

    private struct Key: Hashable {
        let sql: String
        let types: [UInt32]
    }

    private var prepared: [Key: String] = [:]
    private var seen: Set<Key> = []
    private var nextNumber = 0

    mutating func lookup(_ sql: String, types: [UInt32]) -> Decision {
        let key = Key(sql: sql, types: types)
        if let name = prepared[key] { return .prepared(name) }
        guard prepared.count < Self.maxPrepared else { return .runUnprepared }
        if seen.contains(key) {
            nextNumber += 1
            return .prepare("switchboard_\(nextNumber)")
        }
        if seen.count >= Self.maxSeen { seen.removeAll(keepingCapacity: true) }
        seen.insert(key)
        return .runUnprepared
    }

    mutating func recordPrepared(_ sql: String, types: [UInt32], name: String) {
        let key = Key(sql: sql, types: types)
        seen.remove(key)
        prepared[key] = name
    }

    /// Stops using a statement (its server-side copy stays until the connection closes; new
    /// names are never reused).
    mutating func forget(_ sql: String, types: [UInt32]) {
        prepared[Key(sql: sql, types: types)] = nil
    }
}
