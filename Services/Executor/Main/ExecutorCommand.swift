import ArgumentParser
import ExecutorApp
import Logging
import ServiceRuntime

@main
struct ExecutorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "switchboard-executor", abstract: "Switchboard executor: runs approved tool steps exactly once.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        let config = try common.resolve(service: "executor", defaultPort: DefaultPorts.executor)
        ProcessBootstrap.bootstrap(logLevel: config.logLevel)
        try await ExecutorService.run(config: config, logger: Logger(label: "switchboard.executor"))
    }
}
