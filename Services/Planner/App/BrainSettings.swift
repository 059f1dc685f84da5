import Foundation
public import ModelRouter
import Postgres
import ReadModels
public import ServiceRuntime

/// Which models the planner may use (`ServiceConfig.models`, read and validated with the rest
/// of the configuration). In order: one OpenAI-compatible model by base URL and name (e.g.
/// Ollama, vLLM or llama.cpp, without editing a catalog), then a catalog file, else none: the
/// rules brain alone.
public enum BrainSettings {
    public static func catalog(_ settings: ServiceConfig.ModelSettings) throws -> ModelCatalog? {
        if let baseURL = settings.baseURL, let model = settings.model {
            return try ModelCatalog.singleModel(baseURL: baseURL, model: model, apiKeyEnv: settings.apiKeyEnv)
        }
        if let path = settings.catalogPath { return try ModelCatalog.load(path: path) }
        return nil
    }
}

/// Budgets read what was spent from the cost ledger (the projection of `LLMCallCompleted`,
/// summed by `CostQueries.spend` like every other reader of spend). It trails the log by the
/// projection's lag, so two calls in quick succession can overshoot a limit by about one call.
struct CostLedgerSpend: SpendSource {
    let pool: PostgresPool

    func spend(tenant: String, since: Date) async throws -> Int64 {
        try await CostQueries(pool: pool).total(CostQueries.Filter(tenant: tenant, from: since)).costMicros
    }

    func spend(conversation: String) async throws -> Int64 {
        try await CostQueries(pool: pool).total(CostQueries.Filter(conversation: conversation)).costMicros
    }
}
