import ArgumentParser
import Logging
import ServiceRuntime
import VerifierApp

@main
struct VerifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "switchboard-verifier", abstract: "Switchboard verifier: schemas and policy on steps, results and replies.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let config = try common.resolve(service: "verifier", defaultPort: DefaultPorts.verifier)
        ProcessBootstrap.bootstrap(logLevel: config.logLevel)
        try await VerifierService.run(config: config, logger: Logger(label: "switchboard.verifier"))
    }
}
