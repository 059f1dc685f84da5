import ArgumentParser
import ExecutorApp
import ServiceRuntime

@main
struct ExecutorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "switchboard-executor", abstract: "Switchboard executor: runs approved tool steps exactly once.")
    @OptionGroup var common: CommonOptions

    func run() async throws {
        try await common.runService("executor", defaultPort: DefaultPorts.executor, ExecutorService.run)
    }
}
