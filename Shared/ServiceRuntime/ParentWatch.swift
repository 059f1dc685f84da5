import Foundation

/// With `SWITCHBOARD_EXIT_ON_STDIN_EOF=1` (read by `ServiceConfig` or the CLI's environment),
/// the process shuts down gracefully (SIGTERM to itself) once its standard input closes. Test
/// harnesses and `switchboard up` give their children a pipe as stdin, so the children stop
/// by themselves even if the parent is killed.
public enum ParentWatch {
    public static let variable = "SWITCHBOARD_EXIT_ON_STDIN_EOF"

    /// Whether `environment` asks for it; anything but 1 or 0 (or unset) is a mistake.
    public static func isRequested(in environment: [String: String]) throws -> Bool {
        switch environment[variable] {
        case nil, "", "0": return false
        case "1": return true
        case let other?: throw ConfigError("\(variable) must be 1 or 0, got '\(other)'")
        }
    }

    static func start() {
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 256)
            while read(STDIN_FILENO, &buffer, buffer.count) > 0 {}
            kill(getpid(), SIGTERM)
        }
        thread.name = "switchboard.parent-watch"
        thread.start()
    }
}
