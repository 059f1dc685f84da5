import ArgumentParser
import HILQueueApp
import ServiceRuntime

@main
struct HILQueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "switchboard-hilqueue", abstract: "Switchboard hilqueue: the human handover queue.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await common.runService("hilqueue", defaultPort: DefaultPorts.hilqueue, HILQueueService.run)
    }
}
