import ArgumentParser
import GatewayApp
import ServiceRuntime

@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "switchboard-gateway", abstract: "Switchboard gateway: the customer chat API.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await common.runService("gateway", defaultPort: DefaultPorts.gateway, GatewayService.run)
    }
}
