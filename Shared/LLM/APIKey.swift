#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reading API keys from the environment (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, ...).
public enum APIKey {
    /// The variable's value with surrounding whitespace (e.g. a trailing newline from a
    /// secrets file) removed; `nil` when unset or blank. Never log the result.
    public static func fromEnvironment(variableName: String) -> String? {
        from(ProcessInfo.processInfo.environment, variableName: variableName)
    }

    /// The same over an environment captured at start (the services' configuration).
    public static func from(_ environment: [String: String], variableName: String) -> String? {
        guard let raw = environment[variableName] else { return nil }
        let value = String(raw.trimmingWhitespace)
        return value.isEmpty ? nil : value
    }
}
