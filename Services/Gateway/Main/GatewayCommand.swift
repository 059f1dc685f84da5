import ArgumentParser
import GatewayApp
import Logging
import ServiceRuntime

@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "switchboard-gateway", abstract: "Switchboard gateway: the customer chat API.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let config = try common.resolve(service: "gateway", defaultPort: DefaultPorts.gateway)
        ProcessBootstrap.bootstrap(logLevel: config.logLevel)
        try await GatewayService.run(config: config, logger: Logger(label: "switchboard.gateway"))
    }
}
