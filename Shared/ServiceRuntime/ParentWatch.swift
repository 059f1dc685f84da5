import Foundation

/// When `SWITCHBOARD_EXIT_ON_STDIN_EOF=1`, the process shuts down gracefully (SIGTERM to
/// itself) once its standard input closes. Test harnesses and `switchboard up` give their
/// children a pipe as stdin, so the children stop by themselves even if the parent is killed.
public enum ParentWatch {
    public static func startIfRequested(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard environment["SWITCHBOARD_EXIT_ON_STDIN_EOF"] == "1" else { return }
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 256)
            while read(STDIN_FILENO, &buffer, buffer.count) > 0 {}
            kill(getpid(), SIGTERM)
        }
        thread.name = "switchboard.parent-watch"
        thread.start()
    }
}
