import DomainPack
import Events
import Foundation
import Logging
import PlannerApp
import Testing

@Suite struct RolloutWatcherTests {
    @Test func aChangedPackFileChangesTheModesAndABrokenOneKeepsThem() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "name: p\nintents:\n  - { name: refund, rollout: assisted }\n".write(toFile: path, atomically: true, encoding: .utf8)
        let watcher = RolloutWatcher(initial: try RolloutModes.load(path: path), path: path, logger: Logger(label: "test"))
        #expect(watcher.mode(for: "refund") == .assisted)
        #expect(!watcher.reload(), "an unchanged file changes nothing")
        try "name: p\nintents:\n  - { name: refund, rollout: shadow }\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(watcher.reload())
        #expect(watcher.mode(for: "refund") == .shadow)
        try "name: p\nintents:\n  - { name: refund, rollout: sometimes }\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(!watcher.reload())
        #expect(watcher.mode(for: "refund") == .shadow, "a file that does not parse keeps the modes in force")
        try "name: p\nrollout: { default: assisted }\nintents: []\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(watcher.reload())
        #expect(watcher.mode(for: "refund") == .assisted)
    }
}
