import ArgumentParser
import VerifierApp
import ServiceRuntime

@main
struct VerifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "switchboard-verifier", abstract: "Switchboard verifier: schemas and policy on steps, results and replies.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await common.runService("verifier", defaultPort: DefaultPorts.verifier, VerifierService.run)
    }
}
