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
        guard let raw = ProcessInfo.processInfo.environment[variableName] else { return nil }
        let value = String(raw.trimmingWhitespace)
        return value.isEmpty ? nil : value
    }
}
