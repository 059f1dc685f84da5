import ArgumentParser
import PlannerApp
import ServiceRuntime

@main
struct PlannerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "switchboard-planner", abstract: "Switchboard planner: decisions, plans and drafted replies.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await common.runService("planner", defaultPort: DefaultPorts.planner, PlannerService.run)
    }
}
