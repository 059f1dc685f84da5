import DomainPack
import Events
import Foundation
import Knowledge
import Logging
import ReadModels
import Projections
import ServiceHost
public import ServiceRuntime

/// Planner process: migrates its schema, loads the domain pack, runs the reactor.
public enum PlannerService {
    public static let schema = "planner"

    public static func run(config: ServiceConfig, logger: Logger) async throws {
        let pack = try DomainPack.load(path: config.domainPackPath)
        let host = try await ServiceHost.start(config: config, logger: logger, schemas: [(schema, PlannerStore.migrations), (ReadModels.costs.liveSchema, ReadModels.costs.migrations), (ReadModels.cases.liveSchema, ReadModels.cases.migrations), ("knowledge", KnowledgeProjection.migrations)])
        let publisher = host.publisher
        let llm = try BrainSettings.catalog(config.models).map { catalog in
            logger.info("language models configured", metadata: ["models": "\(catalog.models.map(\.id).joined(separator: ","))"])
            return LLMBrain(catalog: catalog, pack: pack, spendSource: CostLedgerSpend(pool: host.pool), environment: config.secrets, logger: logger, faults: config.faults)
        }
        if llm == nil { logger.info("no language model configured: the rules brain decides") }
        let knowledge = try KnowledgeIndex(pool: host.pool, schema: "knowledge", logger: logger)
        let rollout = RolloutWatcher(initial: pack.rollout, path: config.domainPackPath, logger: logger)
        let watching = Task { await rollout.run() }
        defer { watching.cancel() }
        let reactor = PlannerReactor(
            brain: RulesBrain(pack: pack), llm: llm, knowledge: knowledge, rollout: rollout, pool: host.pool, producer: config.producerName, logger: logger,
            publish: { events in try await publisher.publish(events) }
        )
        do {
            try await host.run(
                consumers: [
                    host.logConsumer(
                        reactions: [Reaction(name: "plan", interestedIn: PlannerReactor.interestedIn, handle: reactor.handle)],
                        projections: host.feeds(ReadModels.costs.projections() + ReadModels.cases.projections())
                            + [ProjectionFeed(KnowledgeProjection(), topic: config.knowledgeTopic)]
                    ),
                ]
            )
        } catch {
            await llm?.shutdown()
            throw error
        }
        await llm?.shutdown()
    }
}
