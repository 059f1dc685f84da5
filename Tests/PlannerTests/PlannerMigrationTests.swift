@testable import PlannerApp
import Testing

/// Applied migrations are history: the runner only compares names, so these pins catch an edit
/// to the SQL of one that databases already ran.
@Suite struct PlannerMigrationTests {
    static func fnv1a(_ text: String) -> UInt64 {
        text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    @Test(arguments: [
        (1, "planner_state", 0x1b25_6497_b6ac_4b49 as UInt64),
        (2, "decision_journal", 0x330f_5a5c_3635_3364 as UInt64),
    ])
    func appliedMigrationsAreUnchanged(version: Int, name: String, digest: UInt64) throws {
        let migration = try #require(PlannerStore.migrations.first { $0.version == version })
        #expect(migration.name == name)
        #expect(Self.fnv1a(migration.sql) == digest, "migration \(version) was edited; add a new one instead")
    }

    @Test func versionsAreUniqueAndAscending() {
        let versions = PlannerStore.migrations.map(\.version)
        #expect(versions == Array(1...versions.count))
    }
}
