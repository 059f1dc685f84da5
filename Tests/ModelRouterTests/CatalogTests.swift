import ToolRuntime
import Foundation
import ModelRouter
import Testing

let sampleCatalog = """
profiles:
  fast:     { cost: 0.5, latency: 0.4, quality: 0.1, allow_cheaper_on_budget: true }
  balanced: { cost: 0.3, latency: 0.3, quality: 0.4, allow_cheaper_on_budget: true }
  powerful: { cost: 0.1, latency: 0.2, quality: 0.7, allow_cheaper_on_budget: false }
models:
  - id: local-smollm
    provider: openai
    base_url: http://127.0.0.1:8080/v1
    model: smollm2-135m
    api_key_env: null
    price: { input_per_million_usd: 0.0, output_per_million_usd: 0.0 }
    context_window: 2048
    max_output_tokens: 256
    capabilities: [json_schema]
    decision_mode: json_schema
    profile: fast
    quality: 0.2
    typical_latency_ms: 800
    timeout_ms: 20000
  - id: cloud-mini
    provider: openai
    base_url: https://api.example.com/v1
    model: mini-1
    api_key_env: EXAMPLE_API_KEY
    price: { input_per_million_usd: 0.15, output_per_million_usd: 0.6 }
    context_window: 128000
    max_output_tokens: 4096
    capabilities: [tools, json_schema]
    decision_mode: json_schema
    profile: balanced
    quality: 0.6
    typical_latency_ms: 1500
  - id: claude-big
    provider: anthropic
    base_url: https://api.anthropic.example/v1
    model: big-2
    api_key_env: ANTHROPIC_API_KEY
    price: { input_per_million_usd: 3, output_per_million_usd: 15 }
    context_window: 200000
    max_output_tokens: 8192
    capabilities: [tools]
    decision_mode: tool_calls
    profile: powerful
    quality: 0.95
    typical_latency_ms: 4000
breaker: { failure_threshold: 4, cool_down_ms: 15000, half_open_probes: 2 }
budgets:
  default: { hourly_micros: 1000000, daily_micros: 5000000, conversation_micros: 200000 }
  tenants:
    acme: { daily_micros: 9000000, hourly_micros: null }
"""

/// A one-model catalog text with `field` replaced by `replacement` (a YAML line fragment).
func catalogText(modelFields: [String: String] = [:], extra: String = "") -> String {
    var fields: [(String, String)] = [
        ("id", "fast-local"), ("provider", "openai"), ("base_url", "http://127.0.0.1:8080/v1"), ("model", "m"),
        ("price", "{ input_per_million_usd: 0.1, output_per_million_usd: 0.2 }"), ("context_window", "2048"),
        ("max_output_tokens", "256"), ("capabilities", "[json_schema]"), ("decision_mode", "json_schema"),
    ]
    for (key, value) in modelFields {
        if let index = fields.firstIndex(where: { $0.0 == key }) { fields[index].1 = value } else { fields.append((key, value)) }
    }
    fields.removeAll { $0.1 == "<absent>" }
    let body = fields.enumerated().map { ($0.offset == 0 ? "  - " : "    ") + "\($0.element.0): \($0.element.1)" }.joined(separator: "\n")
    return "models:\n\(body)\n\(extra)"
}

func catalogError(_ yaml: String) -> ModelCatalogError? {
    do {
        _ = try ModelCatalog.parse(yaml: yaml)
        return nil
    } catch {
        return error
    }
}

@Suite struct CatalogParsingTests {
    @Test func parsesTheFullShape() throws {
        let catalog = try ModelCatalog.parse(yaml: sampleCatalog)
        #expect(catalog.models.map(\.id) == ["local-smollm", "cloud-mini", "claude-big"])
        let mini = try #require(catalog.model(id: "cloud-mini"))
        #expect(mini.provider == .openai)
        #expect(mini.baseURL == "https://api.example.com/v1")
        #expect(mini.model == "mini-1")
        #expect(mini.apiKeyEnv == "EXAMPLE_API_KEY")
        #expect(mini.price == ModelPrice(inputPicosPerToken: 150_000, outputPicosPerToken: 600_000))
        #expect(mini.contextWindow == 128_000)
        #expect(mini.maxOutputTokens == 4096)
        #expect(mini.capabilities == [.tools, .jsonSchema])
        #expect(mini.decisionMode == .jsonSchema)
        #expect(mini.profile == "balanced")
        #expect(mini.quality == 0.6)
        #expect(mini.typicalLatencyMs == 1500)
        #expect(mini.timeoutMs == 30_000)  // default
        let local = try #require(catalog.model(id: "local-smollm"))
        #expect(local.apiKeyEnv == nil)
        #expect(local.timeoutMs == 20_000)
        #expect(catalog.model(id: "claude-big")?.provider == .anthropic)
        #expect(catalog.model(id: "claude-big")?.price == ModelPrice(inputPicosPerToken: 3_000_000, outputPicosPerToken: 15_000_000))

        #expect(catalog.profiles["powerful"] == RoutingProfile(
            name: "powerful", costWeight: 0.1, latencyWeight: 0.2, qualityWeight: 0.7, allowCheaperOnBudget: false))
        #expect(catalog.defaultProfile == "balanced")
        #expect(catalog.breaker == BreakerConfig(failureThreshold: 4, coolDown: .seconds(15), halfOpenProbes: 2))

        #expect(catalog.budgets.defaultLimits == BudgetLimits(hourlyMicros: 1_000_000, dailyMicros: 5_000_000, conversationMicros: 200_000))
        // Override: given keys replace, null = unlimited, absent keys inherit.
        #expect(catalog.budgets.limits(for: "acme") == BudgetLimits(hourlyMicros: nil, dailyMicros: 9_000_000, conversationMicros: 200_000))
        #expect(catalog.budgets.limits(for: "other") == catalog.budgets.defaultLimits)
    }

    @Test func optionalSectionsDefault() throws {
        let catalog = try ModelCatalog.parse(yaml: catalogText())
        #expect(catalog.profiles.keys.sorted() == ["balanced", "fast", "powerful"])
        #expect(catalog.defaultProfile == "balanced")
        #expect(catalog.breaker == BreakerConfig(failureThreshold: 3, coolDown: .seconds(30), halfOpenProbes: 1))
        #expect(catalog.budgets == .unlimited)
        let model = try #require(catalog.models.first)
        #expect(model.quality == 0.5 && model.typicalLatencyMs == 1000 && model.profile == nil)
    }

    @Test func mergeKeysShareDefaults() throws {
        let yaml = """
        defaults: &defaults
        models:
          - &base
            id: a
            provider: openai
            base_url: http://localhost:1/v1
            model: m
            price: { input_per_million_usd: 1, output_per_million_usd: 2 }
            context_window: 1000
            max_output_tokens: 100
            capabilities: [json_schema]
            decision_mode: json_schema
          - <<: *base
            id: b
            context_window: 5000
        """
        // `defaults` is not a catalog key: unknown keys are refused...
        #expect(catalogError(yaml)?.code == .unknownKey)
        // ...while merges work.
        let catalog = try ModelCatalog.parse(yaml: yaml.replacingOccurrences(of: "defaults: &defaults\n", with: ""))
        #expect(catalog.models.map(\.id) == ["a", "b"])
        #expect(catalog.models[1].contextWindow == 5000)
        #expect(catalog.models[1].price == catalog.models[0].price)
    }

    @Test func errorNamesThePathByModelID() throws {
        let error = try #require(catalogError(catalogText(modelFields: [
            "price": "{ input_per_million_usd: cheap, output_per_million_usd: 0.2 }",
        ])))
        #expect(error.code == .invalidValue)
        #expect(error.path == "models.fast-local.price.input_per_million_usd")
        #expect(error.message == "expected a number, got a string")
        #expect(error.line == 6)
        #expect(error.description.hasPrefix("models.fast-local.price.input_per_million_usd: expected a number"))
        #expect(error.isRetriable == false)
    }

    @Test(arguments: [
        // (field, value, code, path, message fragment)
        ("price", "{ input_per_million_usd: 0.1234567, output_per_million_usd: 0 }", ModelCatalogError.Code.invalidValue,
         "models.fast-local.price.input_per_million_usd", "6 decimal places"),
        ("price", "{ input_per_million_usd: -1, output_per_million_usd: 0 }", .invalidValue,
         "models.fast-local.price.input_per_million_usd", "negative"),
        ("price", "{ input_per_million_usd: '0.1', output_per_million_usd: 0 }", .invalidValue,
         "models.fast-local.price.input_per_million_usd", "expected a number"),
        ("price", "{ input_per_million_usd: 0.1 }", .missingKey,
         "models.fast-local.price.output_per_million_usd", "required"),
        ("price", "{ input_per_million_usd: 0.1, output_per_million_usd: 0, currency: EUR }", .unknownKey,
         "models.fast-local.price.currency", "unknown key"),
        ("context_window", "big", .invalidValue, "models.fast-local.context_window", "expected an integer"),
        ("context_window", "2048.5", .invalidValue, "models.fast-local.context_window", "expected an integer"),
        ("context_window", "0", .invalidValue, "models.fast-local.context_window", "must be in 1..."),
        ("max_output_tokens", "4096", .invalidValue, "models.fast-local.max_output_tokens", "must not exceed context_window"),
        ("provider", "azure", .invalidValue, "models.fast-local.provider", "expected one of openai, anthropic"),
        ("provider", "<absent>", .missingKey, "models.fast-local.provider", "required"),
        ("capabilities", "[json_schema, vision]", .invalidValue, "models.fast-local.capabilities[1]", "unknown value 'vision'"),
        ("decision_mode", "tool_calls", .invalidValue, "models.fast-local.decision_mode", "needs capability tools"),
        ("capabilities", "[tools]", .invalidValue, "models.fast-local.decision_mode", "needs capability json_schema"),
        ("profile", "turbo", .unknownReference, "models.fast-local.profile", "unknown profile 'turbo'"),
        ("quality", "1.5", .invalidValue, "models.fast-local.quality", "0...1"),
        ("base_url", "ftp://host/v1", .invalidValue, "models.fast-local.base_url", "http(s) URL"),
        ("base_url", "https://user:pw@host/v1", .invalidValue, "models.fast-local.base_url", "credentials"),
        ("api_key_env", "sk-live-123456", .invalidValue, "models.fast-local.api_key_env", "NAME of an environment variable"),
        ("prce", "1", .unknownKey, "models.fast-local.prce", "unknown key"),
        ("id", "bad id!", .invalidValue, "models[0].id", "letters, digits"),
    ])
    func invalidModelFields(field: String, value: String, code: ModelCatalogError.Code, path: String, fragment: String) throws {
        let error = try #require(catalogError(catalogText(modelFields: [field: value])))
        #expect(error.code == code)
        #expect(error.path == path)
        #expect(error.message.contains(fragment), "\(error)")
    }

    @Test func apiKeyLookalikeIsNotEchoed() throws {
        let error = try #require(catalogError(catalogText(modelFields: ["api_key_env": "sk-live-123456"])))
        #expect(!error.description.contains("sk-live"))
    }

    @Test func documentLevelErrors() throws {
        #expect(catalogError("models: [")?.code == .invalidYAML)
        #expect(catalogError("")?.code == .invalidYAML)
        #expect(catalogError("- 1")?.path == "<root>")
        #expect(catalogError("profiles: {}")?.path == "profiles")
        #expect(catalogError("foo: 1")?.code == .unknownKey)
        let missing = try #require(catalogError("breaker: { failure_threshold: 2 }"))
        #expect(missing.code == .missingKey && missing.path == "models")
        #expect(catalogError("models: []")?.message == "must list at least one model")

        let duplicate = try #require(catalogError(catalogText() + catalogText().replacingOccurrences(of: "models:\n", with: "")))
        #expect(duplicate.code == .duplicateID)
        #expect(duplicate.path == "models[1].id")
        #expect(duplicate.message.contains("models[0]"))

        let yamlDuplicateKey = catalogText(extra: "breaker: { failure_threshold: 2, failure_threshold: 3 }")
        #expect(catalogError(yamlDuplicateKey)?.code == .invalidYAML)
    }

    @Test func sectionErrors() throws {
        let breaker = try #require(catalogError(catalogText(extra: "breaker: { failure_threshold: 0 }")))
        #expect(breaker.path == "breaker.failure_threshold")
        let weights = try #require(catalogError(catalogText(extra: "profiles:\n  balanced: { cost: x, latency: 0, quality: 1 }")))
        #expect(weights.path == "profiles.balanced.cost" && weights.message.hasPrefix("expected a number"))
        let zero = try #require(catalogError(catalogText(extra: "profiles:\n  balanced: { cost: 0, latency: 0, quality: 0 }")))
        #expect(zero.path == "profiles.balanced")
        let allow = try #require(catalogError(catalogText(extra: "profiles:\n  balanced: { cost: 1, latency: 0, quality: 0, allow_cheaper_on_budget: maybe }")))
        #expect(allow.path == "profiles.balanced.allow_cheaper_on_budget")
        let noDefault = try #require(catalogError(catalogText(extra: "profiles:\n  cheap: { cost: 1, latency: 0, quality: 0 }")))
        #expect(noDefault.code == .missingKey && noDefault.path == "default_profile")
        let unknownDefault = try #require(catalogError(catalogText(extra: "default_profile: nope")))
        #expect(unknownDefault.code == .unknownReference && unknownDefault.path == "default_profile")
        let budget = try #require(catalogError(catalogText(extra: "budgets:\n  tenants:\n    acme: { daily_micros: -5 }")))
        #expect(budget.path == "budgets.tenants.acme.daily_micros")
        let budgetKey = try #require(catalogError(catalogText(extra: "budgets:\n  default: { weekly_micros: 5 }")))
        #expect(budgetKey.code == .unknownKey && budgetKey.path == "budgets.default.weekly_micros")

        let custom = try ModelCatalog.parse(yaml: catalogText(extra: "default_profile: cheap\nprofiles:\n  cheap: { cost: 1, latency: 0, quality: 0 }"))
        #expect(custom.defaultProfile == "cheap")
        #expect(custom.profiles["cheap"]?.allowCheaperOnBudget == true)
    }

    @Test func loadsFromFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString).yaml")
        try sampleCatalog.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try ModelCatalog.load(path: url.path).models.count == 3)
        #expect(throws: ModelCatalogError.self) { try ModelCatalog.load(path: url.path + ".missing") }
        do {
            _ = try ModelCatalog.load(path: url.path + ".missing")
        } catch {
            #expect(error.code == .unreadableFile)
        }
    }
}

@Suite struct SingleModelCatalogTests {
    @Test func buildsTheSingleModelCatalog() throws {
        let catalog = try ModelCatalog.singleModel(baseURL: "http://127.0.0.1:8080/v1", model: "qwen2.5-0.5b", apiKeyEnv: "LOCAL_KEY")
        #expect(catalog.models.count == 1)
        let model = catalog.models[0]
        #expect(model.id == ModelCatalog.singleModelID)
        #expect(model.provider == .openai)
        #expect(model.baseURL == "http://127.0.0.1:8080/v1")
        #expect(model.model == "qwen2.5-0.5b")
        #expect(model.apiKeyEnv == "LOCAL_KEY")
        #expect(model.decisionMode == .jsonSchema && model.capabilities.contains(.jsonSchema))
        #expect(model.price == .free)
        #expect(model.profile == "balanced")
        #expect(model.contextWindow == 8192)
        #expect(catalog.profiles.count == 3 && catalog.defaultProfile == "balanced")
        #expect(catalog.budgets == .unlimited)
    }

    @Test func badSettingsAreNamedWithoutEchoingSecrets() throws {
        do {
            _ = try ModelCatalog.singleModel(baseURL: "not a url", model: "x")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .invalidEnvironment && error.path == "SWITCHBOARD_LLM_BASE_URL")
        }
        do {
            _ = try ModelCatalog.singleModel(baseURL: "http://h/v1", model: "x", apiKeyEnv: "sk-secret")
            Issue.record("expected an error")
        } catch {
            #expect(error.path == "SWITCHBOARD_LLM_API_KEY_ENV" && !error.description.contains("sk-secret"))
        }
    }
}
