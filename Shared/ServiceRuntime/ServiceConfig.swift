import ArgumentParser
public import LogTopics
import Foundation
import Logging

/// Configuration every Switchboard service shares. Each value comes from a flag, else from the
/// environment (the variables `make up` writes to `.run/env`), else a default; required values
/// without either fail start-up with a message naming the variable.
public struct ServiceConfig: Sendable {
    public var serviceName: String
    public var instanceID: String
    public var bootstrapServers: String
    public var databaseURL: String
    public var databasePoolSize: Int
    /// `SWITCHBOARD_DB_PREPARED_STATEMENTS` (default true): connections prepare repeated
    /// statements. Set false behind PgBouncer in transaction mode before 1.21.
    public var databasePreparedStatements = true
    public var httpHost: String
    public var httpPort: Int
    public var logLevel: Logger.Level
    /// Dev broker: ~5 ms (it holds empty fetches for the whole wait). Real Kafka: ~100 ms.
    public var kafkaFetchWaitMaxMs: Int
    /// Consumer-group session timeout. Real Kafka accepts 6000 at the lowest (the default
    /// here); librdkafka's mock cluster needs more than ~3500 and finishes a rebalance only
    /// after session−1 s, so the dev stack uses 4000 for faster failover.
    public var kafkaSessionTimeoutMs: Int
    /// Partitions whose events a service reacts to at once within one polled batch (events of
    /// one partition, hence of one conversation, are always handled one at a time, in order).
    public var consumerConcurrency: Int
    /// Extra librdkafka properties (`k=v,k=v`), e.g. SASL/TLS for a real cluster.
    public var kafkaProperties: [String: String]
    public var conversationsTopic: String
    public var deadLetterTopic: String
    public var knowledgeTopic: String
    public var domainPackPath: String
    public var defaultTenant: String
    /// Seed the demo systems of record (`make up`, end-to-end tests); never in production.
    public var demoData: Bool = false
    /// Stop when standard input closes (`ParentWatch`): set for children of a dev stack.
    public var exitOnStdinEOF = false
    /// The planner's language models (docs/BRAINS.md); none set: the rules brain alone.
    public var models = ModelSettings()
    /// The process environment, for secrets only: an API key is read from the variable the
    /// model settings name when a call needs it, and never copied into the configuration.
    public var secrets: [String: String] = [:]
    /// `SWITCHBOARD_FAULTS`: chaos runs only (`FaultInjection`).
    public var faults = FaultInjection()

    public struct ModelSettings: Sendable, Equatable {
        /// `SWITCHBOARD_LLM_BASE_URL` + `SWITCHBOARD_LLM_MODEL`: one OpenAI-compatible model.
        public var baseURL: String?
        public var model: String?
        /// `SWITCHBOARD_LLM_API_KEY_ENV`: the variable holding that model's key.
        public var apiKeyEnv: String?
        /// `SWITCHBOARD_MODEL_CATALOG`: a catalog of models, prices and budgets.
        public var catalogPath: String?
        public init(baseURL: String? = nil, model: String? = nil, apiKeyEnv: String? = nil, catalogPath: String? = nil) {
            (self.baseURL, self.model, self.apiKeyEnv, self.catalogPath) = (baseURL, model, apiKeyEnv, catalogPath)
        }
    }

    /// `producer` field of every event this process appends: `service@instance`.
    public var producerName: String { "\(serviceName)@\(instanceID)" }

    public init(
        serviceName: String, instanceID: String, bootstrapServers: String, databaseURL: String,
        databasePoolSize: Int = 4, httpHost: String = "127.0.0.1", httpPort: Int,
        logLevel: Logger.Level = .info, kafkaFetchWaitMaxMs: Int = 5, kafkaSessionTimeoutMs: Int = 6000, consumerConcurrency: Int = 4, kafkaProperties: [String: String] = [:],
        conversationsTopic: String = Topics.conversations, deadLetterTopic: String = Topics.deadLetter, knowledgeTopic: String = Topics.knowledge,
        domainPackPath: String = "deploy/packs/retail.yaml", defaultTenant: String = "default", demoData: Bool = false
    ) {
        self.demoData = demoData
        self.knowledgeTopic = knowledgeTopic
        self.serviceName = serviceName
        self.instanceID = instanceID
        self.bootstrapServers = bootstrapServers
        self.databaseURL = databaseURL
        self.databasePoolSize = databasePoolSize
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.logLevel = logLevel
        self.kafkaFetchWaitMaxMs = kafkaFetchWaitMaxMs
        self.kafkaSessionTimeoutMs = kafkaSessionTimeoutMs
        self.consumerConcurrency = consumerConcurrency
        self.kafkaProperties = kafkaProperties
        self.conversationsTopic = conversationsTopic
        self.deadLetterTopic = deadLetterTopic
        self.domainPackPath = domainPackPath
        self.defaultTenant = defaultTenant
    }
}

/// Default HTTP ports on one machine; production sets `SWITCHBOARD_<SERVICE>_ADDR`.
public enum DefaultPorts {
    public static let gateway = 8080
    public static let planner = 8081
    public static let executor = 8082
    public static let verifier = 8083
    public static let hilqueue = 8084
}

public struct ConfigError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Flags shared by the service executables; `@OptionGroup` them in each `@main`.
public struct CommonOptions: ParsableArguments, Sendable {
    @Option(help: "Kafka bootstrap servers (env SWITCHBOARD_BOOTSTRAP).")
    public var bootstrap: String?
    @Option(name: .customLong("database-url"), help: "Postgres URL (env DATABASE_URL).")
    public var databaseURL: String?
    @Option(help: "HTTP listen address host:port (env SWITCHBOARD_<SERVICE>_ADDR).")
    public var http: String?
    @Option(name: .customLong("log-level"), help: "trace|debug|info|notice|warning|error|critical (env SWITCHBOARD_LOG_LEVEL).")
    public var logLevel: String?
    @Option(name: .customLong("instance-id"), help: "Instance id used in the events' producer field (env SWITCHBOARD_INSTANCE_ID).")
    public var instanceID: String?
    @Option(name: .customLong("domain-pack"), help: "Domain pack YAML (env SWITCHBOARD_DOMAIN_PACK).")
    public var domainPack: String?

    public init() {}

    /// Resolves flags over environment over defaults.
    public func resolve(service: String, defaultPort: Int, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServiceConfig {
        func env(_ name: String) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        guard let bootstrap = bootstrap ?? env("SWITCHBOARD_BOOTSTRAP") else {
            throw ConfigError("missing Kafka bootstrap servers: set SWITCHBOARD_BOOTSTRAP or --bootstrap")
        }
        guard let databaseURL = databaseURL ?? env("DATABASE_URL") else {
            throw ConfigError("missing Postgres URL: set DATABASE_URL or --database-url")
        }
        let address = http ?? env("SWITCHBOARD_\(service.uppercased())_ADDR") ?? "127.0.0.1:\(defaultPort)"
        let (host, port) = try Self.parseAddress(address)
        let levelName = logLevel ?? env("SWITCHBOARD_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ConfigError("invalid log level '\(levelName)'")
        }
        let instance = instanceID ?? env("SWITCHBOARD_INSTANCE_ID") ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        let fetchWait = try env("SWITCHBOARD_KAFKA_FETCH_WAIT_MS").map { raw in
            guard let value = Int(raw), (0...10_000).contains(value) else {
                throw ConfigError("SWITCHBOARD_KAFKA_FETCH_WAIT_MS must be 0...10000, got '\(raw)'")
            }
            return value
        } ?? 5
        let sessionTimeout = try env("SWITCHBOARD_KAFKA_SESSION_TIMEOUT_MS").map { raw in
            guard let value = Int(raw), (1000...300_000).contains(value) else {
                throw ConfigError("SWITCHBOARD_KAFKA_SESSION_TIMEOUT_MS must be 1000...300000, got '\(raw)'")
            }
            return value
        } ?? 6000
        let concurrency = try env("SWITCHBOARD_CONSUMER_CONCURRENCY").map { raw in
            guard let value = Int(raw), (1...64).contains(value) else {
                throw ConfigError("SWITCHBOARD_CONSUMER_CONCURRENCY must be 1...64, got '\(raw)'")
            }
            return value
        } ?? 4
        let poolSize = try env("SWITCHBOARD_DB_POOL_SIZE").map { raw in
            guard let value = Int(raw), (1...256).contains(value) else {
                throw ConfigError("SWITCHBOARD_DB_POOL_SIZE must be 1...256, got '\(raw)'")
            }
            return value
        } ?? 4
        var config = ServiceConfig(
            serviceName: service, instanceID: instance, bootstrapServers: bootstrap, databaseURL: databaseURL,
            databasePoolSize: poolSize, httpHost: host, httpPort: port, logLevel: level,
            kafkaFetchWaitMaxMs: fetchWait, kafkaSessionTimeoutMs: sessionTimeout, consumerConcurrency: concurrency,
            kafkaProperties: try Self.parseProperties(env("SWITCHBOARD_KAFKA_PROPERTIES") ?? ""),
            conversationsTopic: env("SWITCHBOARD_TOPIC_CONVERSATIONS") ?? Topics.conversations,
            deadLetterTopic: env("SWITCHBOARD_TOPIC_DEADLETTER") ?? Topics.deadLetter,
            knowledgeTopic: env("SWITCHBOARD_TOPIC_KNOWLEDGE") ?? Topics.knowledge,
            domainPackPath: domainPack ?? env("SWITCHBOARD_DOMAIN_PACK") ?? "deploy/packs/retail.yaml",
            defaultTenant: env("SWITCHBOARD_DEFAULT_TENANT") ?? "default",
            demoData: try env("SWITCHBOARD_DEMO_DATA").map { raw in
                guard let value = ["true": true, "false": false, "1": true, "0": false][raw] else {
                    throw ConfigError("SWITCHBOARD_DEMO_DATA must be true or false, got '\(raw)'")
                }
                return value
            } ?? false
        )
        config.models = try Self.modelSettings(env)
        config.databasePreparedStatements = try env("SWITCHBOARD_DB_PREPARED_STATEMENTS").map { raw in
            guard let value = ["true": true, "false": false, "1": true, "0": false][raw] else {
                throw ConfigError("SWITCHBOARD_DB_PREPARED_STATEMENTS must be true or false, got '\(raw)'")
            }
            return value
        } ?? true
        config.exitOnStdinEOF = try ParentWatch.isRequested(in: environment)
        config.secrets = environment
        config.faults = try FaultInjection.parse(env("SWITCHBOARD_FAULTS"))
        return config
    }

    /// Both of base URL and model or neither; an API key variable only with them.
    static func modelSettings(_ env: (String) -> String?) throws -> ServiceConfig.ModelSettings {
        let settings = ServiceConfig.ModelSettings(
            baseURL: env("SWITCHBOARD_LLM_BASE_URL"), model: env("SWITCHBOARD_LLM_MODEL"),
            apiKeyEnv: env("SWITCHBOARD_LLM_API_KEY_ENV"), catalogPath: env("SWITCHBOARD_MODEL_CATALOG"))
        switch (settings.baseURL, settings.model) {
        case (nil, nil):
            if settings.apiKeyEnv != nil { throw ConfigError("SWITCHBOARD_LLM_API_KEY_ENV is set without SWITCHBOARD_LLM_BASE_URL and SWITCHBOARD_LLM_MODEL") }
        case (let url?, _?):
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ConfigError("SWITCHBOARD_LLM_BASE_URL must be an http(s) URL, got '\(url)'")
            }
        case (nil, _?): throw ConfigError("SWITCHBOARD_LLM_BASE_URL is required when SWITCHBOARD_LLM_MODEL is set")
        case (_?, nil): throw ConfigError("SWITCHBOARD_LLM_MODEL is required when SWITCHBOARD_LLM_BASE_URL is set")
        }
        if let name = settings.apiKeyEnv, name.isEmpty || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
            // Not echoed: a key pasted here by mistake must not reach a log.
            throw ConfigError("SWITCHBOARD_LLM_API_KEY_ENV must name an environment variable (letters, digits, _)")
        }
        return settings
    }

    static func parseAddress(_ address: String) throws -> (String, Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              (0...65535).contains(port)
        else { throw ConfigError("invalid listen address '\(address)', expected host:port") }
        return (String(address[..<colon]), port)
    }

    static func parseProperties(_ raw: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for pair in raw.split(separator: ",") where !pair.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let eq = pair.firstIndex(of: "=") else {
                throw ConfigError("SWITCHBOARD_KAFKA_PROPERTIES entries must be key=value")
            }
            result[pair[..<eq].trimmingCharacters(in: .whitespaces)] = pair[pair.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        }
        return result
    }
}
