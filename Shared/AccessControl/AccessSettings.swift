public import Auth
import Foundation
public import ServiceRuntime

/// How a service's HTTP API admits callers (docs/SECURITY.md), from the environment:
///
/// - `SWITCHBOARD_AUTH_KEYS` (a JSON key set) or `SWITCHBOARD_AUTH_KEYS_FILE` (its path): the
///   keys tokens are verified with, by `kid`; several at once while keys rotate. Required: a
///   service does not start open.
/// - `SWITCHBOARD_RATE_LIMIT_CLIENT`, `…_SESSION`, `…_ADDRESS`: `burst:per_second` token buckets
///   per API key, user or agent (`client`, default 2000:1000), per customer session (30:1),
///   and per client address for requests without valid credentials (60:2).
/// - `SWITCHBOARD_TRUSTED_PROXIES`: comma list of the load balancers' addresses; only from
///   them is `X-Forwarded-For` believed.
public struct AccessSettings: Sendable {
    public var keySet: AuthKeySet
    public var clientLimit: RateLimiter.Configuration
    public var sessionLimit: RateLimiter.Configuration
    public var addressLimit: RateLimiter.Configuration
    public var trustedProxies: Set<String>

    public init(
        keySet: AuthKeySet,
        clientLimit: RateLimiter.Configuration = .init(capacity: 2000, refillPerSecond: 1000),
        sessionLimit: RateLimiter.Configuration = .init(capacity: 30, refillPerSecond: 1),
        addressLimit: RateLimiter.Configuration = .init(capacity: 60, refillPerSecond: 2),
        trustedProxies: Set<String> = []
    ) {
        self.keySet = keySet
        self.clientLimit = clientLimit
        self.sessionLimit = sessionLimit
        self.addressLimit = addressLimit
        self.trustedProxies = trustedProxies
    }

    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> AccessSettings {
        let json: String
        if let inline = environment["SWITCHBOARD_AUTH_KEYS"], !inline.isEmpty {
            json = inline
        } else if let path = environment["SWITCHBOARD_AUTH_KEYS_FILE"], !path.isEmpty {
            guard let data = FileManager.default.contents(atPath: path) else { throw ConfigError("SWITCHBOARD_AUTH_KEYS_FILE: cannot read \(path)") }
            json = String(decoding: data, as: UTF8.self)
        } else {
            throw ConfigError("no token keys: set SWITCHBOARD_AUTH_KEYS or SWITCHBOARD_AUTH_KEYS_FILE (`switchboard auth keys` makes a key set; docs/SECURITY.md)")
        }
        let keySet: AuthKeySet
        do { keySet = try AuthKeySet(json: json) } catch { throw ConfigError("SWITCHBOARD_AUTH_KEYS: \(error)") }
        var settings = AccessSettings(keySet: keySet)
        func limit(_ name: String, _ fallback: RateLimiter.Configuration) throws(ConfigError) -> RateLimiter.Configuration {
            guard let text = environment[name], !text.isEmpty else { return fallback }
            let parts = text.split(separator: ":")
            guard parts.count == 2, let burst = Int(parts[0]), burst >= 1, let rate = Double(parts[1]), rate > 0, rate.isFinite else {
                throw ConfigError("\(name) is burst:per_second (e.g. 20:0.5), got '\(text)'")
            }
            return RateLimiter.Configuration(capacity: burst, refillPerSecond: rate)
        }
        settings.clientLimit = try limit("SWITCHBOARD_RATE_LIMIT_CLIENT", settings.clientLimit)
        settings.sessionLimit = try limit("SWITCHBOARD_RATE_LIMIT_SESSION", settings.sessionLimit)
        settings.addressLimit = try limit("SWITCHBOARD_RATE_LIMIT_ADDRESS", settings.addressLimit)
        settings.trustedProxies = Set((environment["SWITCHBOARD_TRUSTED_PROXIES"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        return settings
    }
}
