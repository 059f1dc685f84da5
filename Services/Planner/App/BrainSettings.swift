import Foundation
public import ModelRouter
import Postgres
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

/// Budgets read what was spent from the cost ledger (`costs.cost_ledger`, the projection of
/// `LLMCallCompleted`). It trails the log by the projection's lag, so two calls in quick
/// succession can overshoot a limit by about one call.
struct CostLedgerSpend: SpendSource {
    let pool: PostgresPool

    func spend(tenant: String, since: Date) async throws -> Int64 {
        let rows = try await pool.query("SELECT coalesce(sum(cost_micros), 0)::bigint AS spent FROM costs.cost_ledger WHERE tenant_id = \(tenant) AND occurred_at >= \(since)")
        return try rows.first(where: { _ in true })?.decode("spent", as: Int64.self) ?? 0
    }

    func spend(conversation: String) async throws -> Int64 {
        let rows = try await pool.query("SELECT coalesce(sum(cost_micros), 0)::bigint AS spent FROM costs.cost_ledger WHERE conversation_id = \(conversation)")
        return try rows.first(where: { _ in true })?.decode("spent", as: Int64.self) ?? 0
    }
}
