import DomainPack
public import Events
import Foundation
public import Logging
import Synchronization

/// The pack's rollout modes as they are now: the planner re-reads the pack file every
/// `interval` and takes its new modes without a restart (docs/ROLLOUT.md). Only the modes are
/// re-read; any other change to the pack still needs a restart. A file that does not parse
/// keeps the modes in force, with an error in the log.
public final class RolloutWatcher: Sendable {
    let path: String?
    let logger: Logger
    private let state: Mutex<(modes: RolloutModes, source: String?)>

    public init(initial: RolloutModes, path: String?, logger: Logger) {
        self.path = path
        self.logger = logger
        self.state = Mutex((initial, path.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }))
    }

    public var modes: RolloutModes { state.withLock { $0.modes } }

    public func mode(for intent: String) -> RolloutMode { modes.mode(for: intent) }

    /// Re-reads the file; true when the modes changed.
    @discardableResult
    public func reload() -> Bool {
        guard let path, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
        guard state.withLock({ $0.source != text }) else { return false }
        do {
            let modes = try RolloutModes.parse(yaml: text)
            let changed = state.withLock { current -> Bool in
                defer { current = (modes, text) }
                return current.modes != modes
            }
            if changed {
                logger.notice("rollout modes changed", metadata: [
                    "default": "\(modes.defaultMode.rawValue)",
                    "intents": "\(modes.byIntent.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.rawValue)" }.joined(separator: ","))",
                ])
            }
            return changed
        } catch {
            state.withLock { $0.source = text }
            logger.error("the pack's rollout modes did not parse; the modes in force stay", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Polls until cancelled.
    public func run(interval: Duration = .seconds(2)) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            reload()
        }
    }
}
