import ToolRuntime
import Foundation
import Yams

/// Reads the catalog from Yams' node tree (not `Yams.load`) so that prices are parsed from
/// their decimal text exactly and every error carries a document path and line.
enum CatalogParser {
    static func parse(yaml: String) throws(ModelCatalogError) -> ModelCatalog {
        let root: Yams.Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw ModelCatalogError(.invalidYAML, path: "<root>", message: "empty document")
            }
            root = node
        } catch let error as ModelCatalogError {
            throw error
        } catch {
            throw ModelCatalogError(.invalidYAML, path: "<root>", message: "invalid YAML: \(error)")
        }
        let document = try Cursor(node: root, path: "").mapping(
            keys: ["default_profile", "profiles", "models", "breaker", "budgets"])

        // Profiles.
        var profiles: [RoutingProfile] = []
        if let profilesNode = document.optional("profiles") {
            let entries = try profilesNode.mapping(keys: nil)
            guard !entries.entries.isEmpty else { throw profilesNode.error(.invalidValue, "must define at least one profile") }
            for (name, node) in entries.entries {
                let profile = try node.mapping(keys: ["cost", "latency", "quality", "allow_cheaper_on_budget"])
                let cost = try profile.required("cost").double(in: 0...1_000)
                let latency = try profile.required("latency").double(in: 0...1_000)
                let quality = try profile.required("quality").double(in: 0...1_000)
                guard cost + latency + quality > 0 else { throw node.error(.invalidValue, "weights must not all be zero") }
                profiles.append(RoutingProfile(
                    name: name, costWeight: cost, latencyWeight: latency, qualityWeight: quality,
                    allowCheaperOnBudget: try profile.optional("allow_cheaper_on_budget")?.bool() ?? true))
            }
        } else {
            profiles = RoutingProfile.defaults
        }
        let profileNames = Set(profiles.map(\.name))
        let defaultProfile: String
        if let node = document.optional("default_profile") {
            defaultProfile = try node.string()
            guard profileNames.contains(defaultProfile) else {
                throw node.error(.unknownReference, "unknown profile '\(defaultProfile)'; defined: \(profileNames.sorted().joined(separator: ", "))")
            }
        } else {
            guard profileNames.contains("balanced") else {
                throw document.cursor.child("default_profile").error(.missingKey, "required when no profile is named 'balanced'")
            }
            defaultProfile = "balanced"
        }

        // Models.
        let modelsNode = try document.required("models")
        let modelNodes = try modelsNode.list()
        guard !modelNodes.isEmpty else { throw modelsNode.error(.invalidValue, "must list at least one model") }
        var models: [ModelSpec] = []
        var firstPathByID: [String: String] = [:]
        for node in modelNodes {
            let model = try parseModel(node, profileNames: profileNames)
            if let earlier = firstPathByID[model.id] {
                throw node.child("id").error(.duplicateID, "duplicate model id '\(model.id)' (first at \(earlier))")
            }
            firstPathByID[model.id] = node.path
            models.append(model)
        }

        // Breaker.
        var breaker = BreakerConfig()
        if let node = document.optional("breaker") {
            let fields = try node.mapping(keys: ["failure_threshold", "cool_down_ms", "half_open_probes"])
            if let value = fields.optional("failure_threshold") { breaker.failureThreshold = try value.int(in: 1...1_000) }
            if let value = fields.optional("cool_down_ms") { breaker.coolDown = .milliseconds(try value.int(in: 0...86_400_000)) }
            if let value = fields.optional("half_open_probes") { breaker.halfOpenProbes = try value.int(in: 1...1_000) }
        }

        // Budgets.
        var budgets = BudgetPolicy.unlimited
        if let node = document.optional("budgets") {
            let fields = try node.mapping(keys: ["default", "tenants"])
            if let defaults = fields.optional("default") {
                budgets.defaultLimits = try parseLimits(defaults, over: .unlimited)
            }
            if let tenants = fields.optional("tenants") {
                for (tenant, limits) in try tenants.mapping(keys: nil).entries {
                    budgets.tenantLimits[tenant] = try parseLimits(limits, over: budgets.defaultLimits)
                }
            }
        }

        return ModelCatalog(models: models, profiles: profiles, defaultProfile: defaultProfile, breaker: breaker, budgets: budgets)
    }

    private static let modelKeys: Set<String> = [
        "id", "provider", "base_url", "model", "api_key_env", "price", "context_window", "max_output_tokens",
        "capabilities", "decision_mode", "profile", "quality", "typical_latency_ms", "timeout_ms", "decision_schema",
    ]

    private static func parseModel(_ node: Cursor, profileNames: Set<String>) throws(ModelCatalogError) -> ModelSpec {
        let indexed = try node.mapping(keys: nil)
        let idNode = try indexed.required("id")
        let id = try idNode.string()
        guard id.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._:-".unicodeScalars.contains($0)) }) else {
            throw idNode.error(.invalidValue, "model ids may only use letters, digits and . _ : -")
        }
        // From here on, errors name the model by id: `models.<id>.field`.
        let fields = indexed.renamed(to: "models.\(id)")
        try fields.checkKeys(modelKeys)

        let baseURLNode = try fields.required("base_url")
        let baseURL = try baseURLNode.string()
        try validateBaseURL(baseURL, path: baseURLNode.path, line: baseURLNode.line)

        var apiKeyEnv: String?
        if let envNode = fields.optional("api_key_env") {
            let name = try envNode.string()
            try validateEnvName(name, path: envNode.path, line: envNode.line)
            apiKeyEnv = name
        }

        let priceFields = try fields.required("price").mapping(keys: ["input_per_million_usd", "output_per_million_usd"])
        let price = ModelPrice(
            inputPicosPerToken: try priceFields.required("input_per_million_usd").price(),
            outputPicosPerToken: try priceFields.required("output_per_million_usd").price())

        let contextWindow = try fields.required("context_window").int(in: 1...100_000_000)
        let maxOutputNode = try fields.required("max_output_tokens")
        let maxOutput = try maxOutputNode.int(in: 1...100_000_000)
        guard maxOutput <= contextWindow else {
            throw maxOutputNode.error(.invalidValue, "must not exceed context_window (\(contextWindow))")
        }

        var capabilities: Set<ModelCapability> = []
        if let list = fields.optional("capabilities") {
            for item in try list.list() { capabilities.insert(try item.enumeration(ModelCapability.self)) }
        }
        let decisionNode = try fields.required("decision_mode")
        let decisionMode = try decisionNode.enumeration(DecisionMode.self)
        switch decisionMode {
        case .jsonSchema where !capabilities.contains(.jsonSchema):
            throw decisionNode.error(.invalidValue, "json_schema needs capability json_schema")
        case .toolCalls where !capabilities.contains(.tools):
            throw decisionNode.error(.invalidValue, "tool_calls needs capability tools")
        default: break
        }

        var profile: String?
        if let profileNode = fields.optional("profile") {
            let name = try profileNode.string()
            guard profileNames.contains(name) else {
                throw profileNode.error(.unknownReference, "unknown profile '\(name)'; defined: \(profileNames.sorted().joined(separator: ", "))")
            }
            profile = name
        }

        let model = try fields.required("model").string()
        return ModelSpec(
            id: id,
            provider: try fields.required("provider").enumeration(ModelProvider.self),
            baseURL: baseURL,
            model: model,
            apiKeyEnv: apiKeyEnv,
            price: price,
            contextWindow: contextWindow,
            maxOutputTokens: maxOutput,
            capabilities: capabilities,
            decisionMode: decisionMode,
            profile: profile,
            quality: try fields.optional("quality")?.double(in: 0...1) ?? 0.5,
            typicalLatencyMs: try fields.optional("typical_latency_ms")?.int(in: 1...3_600_000) ?? 1000,
            timeoutMs: try fields.optional("timeout_ms")?.int(in: 1...3_600_000) ?? 30_000,
            decisionSchema: try fields.optional("decision_schema")?.enumeration(DecisionSchema.self) ?? .flat
        )
    }

    /// Reads a limits mapping over `base`: a present key replaces the base value, `null` makes
    /// that window unlimited, an absent key keeps the base.
    private static func parseLimits(_ node: Cursor, over base: BudgetLimits) throws(ModelCatalogError) -> BudgetLimits {
        let keys: [(String, BudgetWindow)] = [
            ("hourly_micros", .hourly), ("daily_micros", .daily), ("monthly_micros", .monthly), ("conversation_micros", .conversation),
        ]
        let fields = try node.mapping(keys: Set(keys.map(\.0)))
        var limits = base
        for (key, window) in keys {
            guard let value = fields.present(key) else { continue }
            limits[window] = value.isNull ? nil : Int64(try value.int(in: 0...Int.max))
        }
        return limits
    }

    static func validateBaseURL(_ text: String, path: String, line: Int? = nil) throws(ModelCatalogError) {
        let code: ModelCatalogError.Code = line == nil && path.hasPrefix("SWITCHBOARD_") ? .invalidEnvironment : .invalidValue
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty
        else {
            throw ModelCatalogError(code, path: path, line: line, message: "expected an http(s) URL with a host")
        }
        guard url.user == nil, url.password == nil, url.query == nil else {
            // Credentials belong in the api_key_env variable, not in the catalog.
            throw ModelCatalogError(code, path: path, line: line, message: "must not contain credentials or a query string")
        }
    }

    /// An environment variable NAME. The message never echoes the value: a pasted key must not
    /// end up in logs.
    static func validateEnvName(_ name: String, path: String, line: Int? = nil) throws(ModelCatalogError) {
        let code: ModelCatalogError.Code = line == nil && path.hasPrefix("SWITCHBOARD_") ? .invalidEnvironment : .invalidValue
        let scalars = name.unicodeScalars
        let valid = !scalars.isEmpty && scalars.count <= 256
            && scalars.allSatisfy { $0.isASCII && ($0 == "_" || CharacterSet.alphanumerics.contains($0)) }
            && !("0"..."9").contains(Character(scalars.first!))
        guard valid else {
            throw ModelCatalogError(code, path: path, line: line,
                                    message: "must be the NAME of an environment variable ([A-Za-z_][A-Za-z0-9_]*), not the key itself")
        }
    }
}

// MARK: - Node cursors

/// A node and where it sits in the document.
struct Cursor {
    let node: Yams.Node?
    let path: String
    /// The node's line, or the parent's when the node is missing.
    let line: Int?

    init(node: Yams.Node, path: String) {
        self.node = node
        self.path = path
        self.line = node.mark?.line
    }

    init(missingAt path: String, line: Int?) {
        self.node = nil
        self.path = path
        self.line = line
    }

    func child(_ key: String) -> Cursor {
        Cursor(missingAt: path.isEmpty ? key : "\(path).\(key)", line: line)
    }

    func error(_ code: ModelCatalogError.Code, _ message: String) -> ModelCatalogError {
        ModelCatalogError(code, path: path.isEmpty ? "<root>" : path, line: line, message: message)
    }

    var isNull: Bool {
        guard let node, case .scalar = node else { return false }
        return node.tagName == .null
    }

    private func typeName() -> String {
        guard let node else { return "nothing" }
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar:
            switch node.tagName {
            case .null: return "null"
            case .bool: return "a boolean"
            case .int, .float: return "a number"
            default: return "a string"
            }
        }
    }

    /// A mapping whose keys are all in `keys` (nil: any string key), after applying `<<` merges.
    func mapping(keys allowed: Set<String>?) throws(ModelCatalogError) -> Fields {
        guard let node, case .mapping(let mapping) = node else {
            throw error(.invalidValue, "expected a mapping, got \(typeName())")
        }
        var explicit: [(String, Yams.Node)] = []
        var merged: [(String, Yams.Node)] = []
        for (keyNode, value) in mapping {
            if keyNode.tagName == .merge {
                let sources: [Yams.Node]
                switch value {
                case .mapping: sources = [value]
                case .sequence(let list): sources = Array(list)
                default: throw Cursor(node: value, path: path).error(.invalidValue, "'<<' must merge a mapping or a list of mappings")
                }
                for source in sources {
                    guard case .mapping(let inner) = source else {
                        throw Cursor(node: source, path: path).error(.invalidValue, "'<<' must merge a mapping or a list of mappings")
                    }
                    for (innerKey, innerValue) in inner {
                        guard let name = innerKey.scalar?.string else {
                            throw Cursor(node: innerKey, path: path).error(.invalidValue, "mapping keys must be strings")
                        }
                        merged.append((name, innerValue))
                    }
                }
                continue
            }
            guard let name = keyNode.scalar?.string else {
                throw Cursor(node: keyNode, path: path).error(.invalidValue, "mapping keys must be strings")
            }
            explicit.append((name, value))
        }
        var entries: [(String, Yams.Node)] = explicit
        var seen = Set(explicit.map(\.0))
        // Explicit keys win over merged ones; earlier merge sources win over later ones (YAML spec).
        for (name, value) in merged where !seen.contains(name) {
            seen.insert(name)
            entries.append((name, value))
        }
        let fields = Fields(cursor: self, entries: entries.map { ($0.0, Cursor(node: $0.1, path: child($0.0).path)) })
        if let allowed { try fields.checkKeys(allowed) }
        return fields
    }

    func list() throws(ModelCatalogError) -> [Cursor] {
        guard let node, case .sequence(let sequence) = node else {
            throw error(.invalidValue, "expected a list, got \(typeName())")
        }
        return sequence.enumerated().map { Cursor(node: $0.element, path: "\(path)[\($0.offset)]") }
    }

    /// Any non-null, non-empty scalar's text (so `model: 3.5` is the string "3.5").
    func string() throws(ModelCatalogError) -> String {
        guard let node, case .scalar(let scalar) = node, node.tagName != .null else {
            throw error(.invalidValue, "expected a string, got \(typeName())")
        }
        guard !scalar.string.isEmpty else { throw error(.invalidValue, "must not be empty") }
        return scalar.string
    }

    func bool() throws(ModelCatalogError) -> Bool {
        guard let node, node.tagName == .bool, let value = node.bool else {
            throw error(.invalidValue, "expected true or false, got \(typeName())")
        }
        return value
    }

    func int(in range: ClosedRange<Int>) throws(ModelCatalogError) -> Int {
        guard let node, node.tagName == .int || node.tagName == .float else {
            throw error(.invalidValue, "expected an integer, got \(typeName())")
        }
        guard node.tagName == .int, let value = node.int else { throw error(.invalidValue, "expected an integer") }
        guard range.contains(value) else { throw error(.invalidValue, "must be in \(Self.describe(range))") }
        return value
    }

    func double(in range: ClosedRange<Double>) throws(ModelCatalogError) -> Double {
        guard let node, node.tagName == .int || node.tagName == .float, let value = node.float else {
            throw error(.invalidValue, "expected a number, got \(typeName())")
        }
        guard value.isFinite, range.contains(value) else {
            throw error(.invalidValue, "must be a number in \(range.lowerBound.formatted)...\(range.upperBound.formatted)")
        }
        return value
    }

    /// USD per million tokens, parsed exactly from the YAML text into pico-dollars per token.
    func price() throws(ModelCatalogError) -> Int64 {
        guard let node, case .scalar(let scalar) = node, node.tagName == .int || node.tagName == .float else {
            throw error(.invalidValue, "expected a number, got \(typeName())")
        }
        switch ModelPrice.picosPerToken(usdPerMillion: scalar.string) {
        case .success(let picos): return picos
        case .failure(.negative): throw error(.invalidValue, "must not be negative")
        case .failure(.tooPrecise): throw error(.invalidValue, "at most 6 decimal places (USD per million tokens)")
        case .failure(.tooLarge): throw error(.invalidValue, "must be at most 1000000 (USD per million tokens)")
        case .failure(.notANumber): throw error(.invalidValue, "expected a plain decimal number like 0.15")
        }
    }

    func enumeration<E: RawRepresentable & CaseIterable>(_: E.Type) throws(ModelCatalogError) -> E where E.RawValue == String {
        let raw = try string()
        guard let value = E(rawValue: raw) else {
            throw error(.invalidValue, "unknown value '\(raw)'; expected one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    private static func describe(_ range: ClosedRange<Int>) -> String {
        range.upperBound == .max ? "\(range.lowerBound)..." : "\(range.lowerBound)...\(range.upperBound)"
    }
}

/// A mapping's members, looked up by key.
struct Fields {
    let cursor: Cursor
    let entries: [(String, Cursor)]

    /// Present, including an explicit null.
    func present(_ key: String) -> Cursor? { entries.first { $0.0 == key }?.1 }

    /// Present and not null.
    func optional(_ key: String) -> Cursor? {
        guard let value = present(key), !value.isNull else { return nil }
        return value
    }

    func required(_ key: String) throws(ModelCatalogError) -> Cursor {
        guard let value = optional(key) else { throw cursor.child(key).error(.missingKey, "required") }
        return value
    }

    func checkKeys(_ allowed: Set<String>) throws(ModelCatalogError) {
        for (name, value) in entries where !allowed.contains(name) {
            throw value.error(.unknownKey, "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// The same members under a new path prefix.
    func renamed(to path: String) -> Fields {
        let renamedCursor = Cursor(missingAt: path, line: cursor.line)
        return Fields(cursor: renamedCursor, entries: entries.map { key, value in
            guard let node = value.node else { return (key, value) }
            return (key, Cursor(node: node, path: "\(path).\(key)"))
        })
    }
}

extension Double {
    fileprivate var formatted: String {
        rounded() == self && abs(self) < 1e15 ? String(Int64(self)) : String(self)
    }
}

extension Yams.Node {
    /// The resolved tag (`!!int`, `!!str`, ...); Yams keeps `Tag.name` internal.
    fileprivate var tagName: Tag.Name { Tag.Name(rawValue: tag.rawValue) }
}
