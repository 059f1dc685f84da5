import ArgumentParser
import HILQueueApp
import Logging
import ServiceRuntime

@main
struct HILQueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "switchboard-hilqueue", abstract: "Switchboard human handover queue.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let config = try common.resolve(service: "hilqueue", defaultPort: DefaultPorts.hilqueue)
        ProcessBootstrap.bootstrap(logLevel: config.logLevel)
        try await HILQueueService.run(config: config, logger: Logger(label: "switchboard.hilqueue"))
    }
}
