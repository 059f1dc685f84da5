public import ToolRuntime
import Foundation

// Catalog file (YAML). Every key below is accepted; any other key is an error, so typos fail
// loudly instead of silently falling back to a default.
//
//   default_profile: balanced          # optional; profile used when a request names none
//                                      # (default: "balanced", which must then exist)
//   profiles:                          # optional; default: the three shown here
//     fast:     { cost: 0.5, latency: 0.4, quality: 0.1, allow_cheaper_on_budget: true }
//     balanced: { cost: 0.3, latency: 0.3, quality: 0.4, allow_cheaper_on_budget: true }
//     powerful: { cost: 0.1, latency: 0.2, quality: 0.7, allow_cheaper_on_budget: false }
//   models:                            # required, non-empty; order breaks score ties
//     - id: local-smollm               # our name: [A-Za-z0-9._:-]+, unique
//       provider: openai               # openai (any OpenAI-compatible) | anthropic
//       base_url: http://127.0.0.1:8080/v1
//       model: smollm2-135m            # the provider's model name
//       api_key_env: null              # NAME of the env var holding the key (never the key)
//       price: { input_per_million_usd: 0.0, output_per_million_usd: 0.0 }  # ≤ 6 decimals
//       context_window: 2048
//       max_output_tokens: 256         # ≤ context_window
//       capabilities: [json_schema]    # optional; tools | json_schema
//       decision_mode: json_schema     # tool_calls (needs `tools`) | json_schema (needs `json_schema`)
//       profile: fast                  # optional; the profile this model is the natural pick for
//       quality: 0.2                   # optional, 0...1 prior (default 0.5)
//       typical_latency_ms: 800        # optional (default 1000)
//       timeout_ms: 20000              # optional (default 30000)
//   breaker: { failure_threshold: 3, cool_down_ms: 30000, half_open_probes: 1 }  # optional
//   budgets:                           # optional; absent limit = unlimited
//     default:                         # applies to every tenant
//       hourly_micros: 2000000         # micro-dollars per calendar hour (UTC)
//       daily_micros: 20000000         # ... per calendar day (UTC)
//       monthly_micros: 300000000      # ... per calendar month (UTC)
//       conversation_micros: 500000    # ... per conversation, lifetime
//     tenants:                         # per-tenant overrides: a given key replaces the
//       acme: { daily_micros: 50000000, hourly_micros: null }  # default; null = unlimited
//
// YAML anchors, aliases and `<<` merge keys work (e.g. shared model defaults).

/// Wire protocol a model speaks. `openai` covers every OpenAI-compatible server (llama.cpp,
/// vLLM, Ollama, ...).
public enum ModelProvider: String, Sendable, Hashable, CaseIterable {
    case openai
    case anthropic
}

/// What a model can do beyond plain chat.
public enum ModelCapability: String, Sendable, Hashable, CaseIterable {
    case tools
    case jsonSchema = "json_schema"
    /// Answers as an event stream (OpenAI-compatible `stream: true`): the planner asks for it
    /// and records the time to the first chunk.
    case streaming
}

/// How the planner obtains a structured decision from the model: a JSON-schema constrained
/// response, or a forced tool call whose arguments carry the decision.
public enum DecisionMode: String, Sendable, Hashable, CaseIterable {
    case toolCalls = "tool_calls"
    case jsonSchema = "json_schema"
}

/// The shape of the decision schema a model is sent (docs/BRAINS.md).
public enum DecisionSchema: String, Sendable, Hashable, CaseIterable {
    /// One object schema: any intent with any next action (what hosted APIs' strict modes take).
    case flat
    /// One alternative per intent and next action: once a model has chosen the intent, the
    /// grammar holds it to that intent's steps (tools in order, each with its own arguments).
    /// Needs a server that converts `anyOf` at the root (llama.cpp, vLLM, Ollama).
    case byIntent = "by_intent"
}

/// One model the router may pick.
public struct ModelSpec: Sendable, Hashable {
    public var id: String
    public var provider: ModelProvider
    public var baseURL: String
    /// The provider's name for the model.
    public var model: String
    /// Name of the environment variable holding the API key; the key itself never enters the
    /// catalog.
    public var apiKeyEnv: String?
    public var price: ModelPrice
    public var contextWindow: Int
    public var maxOutputTokens: Int
    public var capabilities: Set<ModelCapability>
    public var decisionMode: DecisionMode
    /// The profile this model is the natural choice for (see ``RoutingProfile``).
    public var profile: String?
    /// Prior quality in 0...1, used by profile scoring.
    public var quality: Double
    public var typicalLatencyMs: Int
    public var timeoutMs: Int
    public var decisionSchema: DecisionSchema

    public init(
        id: String, provider: ModelProvider, baseURL: String, model: String, apiKeyEnv: String? = nil,
        price: ModelPrice = .free, contextWindow: Int, maxOutputTokens: Int,
        capabilities: Set<ModelCapability>, decisionMode: DecisionMode, profile: String? = nil,
        quality: Double = 0.5, typicalLatencyMs: Int = 1000, timeoutMs: Int = 30_000, decisionSchema: DecisionSchema = .flat
    ) {
        self.decisionSchema = decisionSchema
        self.id = id
        self.provider = provider
        self.baseURL = baseURL
        self.model = model
        self.apiKeyEnv = apiKeyEnv
        self.price = price
        self.contextWindow = contextWindow
        self.maxOutputTokens = maxOutputTokens
        self.capabilities = capabilities
        self.decisionMode = decisionMode
        self.profile = profile
        self.quality = quality
        self.typicalLatencyMs = typicalLatencyMs
        self.timeoutMs = timeoutMs
    }

    /// Whether the model can serve a request needing `capability`. A structured decision
    /// (`json_schema`) can also be had from a model without JSON-schema support when it
    /// decides through a forced tool call.
    public func satisfies(_ capability: ModelCapability) -> Bool {
        if capabilities.contains(capability) { return true }
        return capability == .jsonSchema && decisionMode == .toolCalls && capabilities.contains(.tools)
    }

    /// Estimated cost of one call in micro-dollars (see ``ModelPrice/costMicros(inputTokens:outputTokens:)``).
    public func costMicros(inputTokens: Int, outputTokens: Int) -> Int64 {
        price.costMicros(inputTokens: inputTokens, outputTokens: outputTokens)
    }
}

/// Scoring weights for one request class. Weights are relative (divided by their sum).
public struct RoutingProfile: Sendable, Hashable {
    public var name: String
    public var costWeight: Double
    public var latencyWeight: Double
    public var qualityWeight: Double
    /// When false and the profile's preferred model does not fit the budget, the router
    /// returns no model (rules brain) instead of quietly downgrading.
    public var allowCheaperOnBudget: Bool

    public init(name: String, costWeight: Double, latencyWeight: Double, qualityWeight: Double, allowCheaperOnBudget: Bool) {
        self.name = name
        self.costWeight = costWeight
        self.latencyWeight = latencyWeight
        self.qualityWeight = qualityWeight
        self.allowCheaperOnBudget = allowCheaperOnBudget
    }

    public static let defaults: [RoutingProfile] = [
        RoutingProfile(name: "fast", costWeight: 0.5, latencyWeight: 0.4, qualityWeight: 0.1, allowCheaperOnBudget: true),
        RoutingProfile(name: "balanced", costWeight: 0.3, latencyWeight: 0.3, qualityWeight: 0.4, allowCheaperOnBudget: true),
        RoutingProfile(name: "powerful", costWeight: 0.1, latencyWeight: 0.2, qualityWeight: 0.7, allowCheaperOnBudget: false),
    ]
}


/// The models, profiles, breaker settings and budgets the router works from; immutable once
/// loaded (reload by building a new router).
public struct ModelCatalog: Sendable, Hashable {
    /// In file order, which is also the score tie-break order.
    public var models: [ModelSpec]
    public var profiles: [String: RoutingProfile]
    public var defaultProfile: String
    public var breaker: BreakerConfig
    public var budgets: BudgetPolicy

    /// Programmatic construction; unlike ``parse(yaml:)`` it does not validate (unique ids,
    /// profile references, ranges).
    public init(
        models: [ModelSpec], profiles: [RoutingProfile] = RoutingProfile.defaults, defaultProfile: String = "balanced",
        breaker: BreakerConfig = BreakerConfig(), budgets: BudgetPolicy = .unlimited
    ) {
        self.models = models
        self.profiles = Dictionary(profiles.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        self.defaultProfile = defaultProfile
        self.breaker = breaker
        self.budgets = budgets
    }

    public func model(id: String) -> ModelSpec? { models.first { $0.id == id } }

    /// Parses a catalog file's text; errors name the path of the mistake.
    public static func parse(yaml: String) throws(ModelCatalogError) -> ModelCatalog {
        try CatalogParser.parse(yaml: yaml)
    }

    public static func load(path: String) throws(ModelCatalogError) -> ModelCatalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelCatalogError(.unreadableFile, path: "<root>", message: "cannot read catalog file \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ModelCatalogError(.invalidYAML, path: "<root>", message: "catalog file \(path) is not UTF-8")
        }
        return try parse(yaml: text)
    }

    /// The id of the model built by ``singleModel(baseURL:model:apiKeyEnv:)``.
    public static let singleModelID = "env-model"

    static func isLoopback(_ url: String) -> Bool {
        guard let host = URLComponents(string: url)?.host?.lowercased() else { return false }
        return host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// A catalog of exactly one OpenAI-compatible model (the environment override): JSON-schema
    /// decisions, price 0, profile `balanced`, 8192-token context, default profiles and breaker,
    /// no budgets.
    public static func singleModel(baseURL: String, model: String, apiKeyEnv: String? = nil) throws(ModelCatalogError) -> ModelCatalog {
        try CatalogParser.validateBaseURL(baseURL, path: "SWITCHBOARD_LLM_BASE_URL")
        guard !model.isEmpty else {
            throw ModelCatalogError(.invalidEnvironment, path: "SWITCHBOARD_LLM_MODEL", message: "must not be empty")
        }
        if let apiKeyEnv { try CatalogParser.validateEnvName(apiKeyEnv, path: "SWITCHBOARD_LLM_API_KEY_ENV") }
        let spec = ModelSpec(
            id: singleModelID, provider: .openai, baseURL: baseURL, model: model, apiKeyEnv: apiKeyEnv,
            price: .free, contextWindow: 8192, maxOutputTokens: 1024, capabilities: [.jsonSchema, .streaming],
            decisionMode: .jsonSchema, profile: "balanced", quality: 0.5, typicalLatencyMs: 1000, timeoutMs: 60_000,
            // A server on this machine is self-hosted (llama.cpp, vLLM, Ollama): they take the
            // by-intent schema, which small models need; a hosted API's strict mode may not.
            decisionSchema: isLoopback(baseURL) ? .byIntent : .flat
        )
        return ModelCatalog(models: [spec])
    }
}

/// A catalog that could not be loaded; `path` is where in the document (e.g.
/// `models.fast-local.price.input_per_million_usd`), `line` the 1-based YAML line when known.
public struct ModelCatalogError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case unreadableFile = "unreadable_file"
        case invalidYAML = "invalid_yaml"
        case missingKey = "missing_key"
        case unknownKey = "unknown_key"
        case invalidValue = "invalid_value"
        case duplicateID = "duplicate_id"
        case unknownReference = "unknown_reference"
        case invalidEnvironment = "invalid_environment"
    }

    public var code: Code
    public var path: String
    public var line: Int?
    public var message: String
    /// Configuration mistakes do not fix themselves.
    public var isRetriable: Bool { false }

    public init(_ code: Code, path: String, line: Int? = nil, message: String) {
        self.code = code
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String {
        let location = line.map { " (line \($0))" } ?? ""
        return "\(path): \(message)\(location) [\(code.rawValue)]"
    }
}
