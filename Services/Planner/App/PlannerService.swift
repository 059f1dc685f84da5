import DomainPack
import Events
import Logging
import ReadModels
import ServiceHost
public import ServiceRuntime

/// Planner process: migrates its schema, loads the domain pack, runs the reactor.
public enum PlannerService {
    public static let schema = "planner"

    public static func run(config: ServiceConfig, logger: Logger) async throws {
        let pack = try DomainPack.load(path: config.domainPackPath)
        let host = try await ServiceHost.start(config: config, logger: logger, schemas: [(schema, PlannerStore.migrations), (ReadModels.costs.liveSchema, ReadModels.costs.migrations), (ReadModels.cases.liveSchema, ReadModels.cases.migrations)])
        let publisher = host.publisher
        let reactor = PlannerReactor(
            brain: RulesBrain(pack: pack), pool: host.pool, producer: config.producerName, logger: logger,
            publish: { events in try await publisher.publish(events) }
        )
        try await host.run(
            consumers: [host.reactor(role: "reactor", interestedIn: PlannerReactor.interestedIn, handler: reactor.handle)]
                + (ReadModels.costs.projections() + ReadModels.cases.projections()).map(host.projection)
        )
    }
}
