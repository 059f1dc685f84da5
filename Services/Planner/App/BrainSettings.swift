import Foundation
public import ModelRouter
import Postgres
import ReadModels

/// Which models the planner may use. In order: `SWITCHBOARD_LLM_BASE_URL` +
/// `SWITCHBOARD_LLM_MODEL` (one OpenAI-compatible model, e.g. Ollama, vLLM or llama.cpp, without
/// editing a catalog; `SWITCHBOARD_LLM_API_KEY_ENV` names the variable holding its key), then a
/// catalog file (`SWITCHBOARD_MODEL_CATALOG`), else none: the rules brain alone.
public enum BrainSettings {
    public static let catalogVariable = "SWITCHBOARD_MODEL_CATALOG"

    public static func catalog(environment: [String: String]) throws -> ModelCatalog? {
        if let single = try ModelCatalog.override(environment: environment) { return single }
        if let path = environment[catalogVariable], !path.isEmpty { return try ModelCatalog.load(path: path) }
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
