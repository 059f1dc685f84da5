import ArgumentParser
import Logging
import PlannerApp
import ServiceRuntime

@main
struct PlannerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "switchboard-planner", abstract: "Switchboard planner: decisions, plans and drafted replies.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let config = try common.resolve(service: "planner", defaultPort: DefaultPorts.planner)
        ProcessBootstrap.bootstrap(logLevel: config.logLevel)
        try await PlannerService.run(config: config, logger: Logger(label: "switchboard.planner"))
    }
}
