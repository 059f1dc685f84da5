import ArgumentParser
import DomainPack
import Foundation
import HTTPClient
import JSON
import ToolBindings
import ToolRuntime

/// `switchboard tools`: what a domain pack exposes, for operators.
struct ToolsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tools", abstract: "What a domain pack's tools are, their schemas, and what a call would send.",
        subcommands: [ListTools.self, ShowTool.self, CallTool.self]
    )
}

struct PackOption: ParsableArguments {
    @Option(help: "Domain pack YAML (env SWITCHBOARD_DOMAIN_PACK).")
    var pack: String?

    func load() throws -> DomainPack {
        let path = pack ?? ProcessInfo.processInfo.environment["SWITCHBOARD_DOMAIN_PACK"] ?? "deploy/packs/retail.yaml"
        return try DomainPack.load(path: path)
    }

    func tool(_ name: String) throws -> ToolContract {
        let pack = try load()
        guard let tool = pack.tools[name] else {
            throw ValidationError("no tool '\(name)' in pack \(pack.name); `switchboard tools list` shows them")
        }
        return tool
    }
}

extension ToolContract {
    /// One line of operations: what the executor does around a call.
    var operationsSummary: String {
        let operations = self.operations
        var parts = ["timeout \(timeoutMs) ms", "attempts \(operations.retry.attempts)"]
        if let limit = operations.rateLimit { parts.append("rate \(limit.perSecond)/s burst \(limit.burst)") }
        if let ttl = operations.cacheTTL { parts.append("cache \(ttl)") }
        parts.append("breaker \(operations.circuitBreaker.failureThreshold) failures / \(operations.circuitBreaker.coolDown)")
        if let scope = operations.authScope { parts.append("scope \(scope)") }
        return parts.joined(separator: ", ")
    }
}

struct ListTools: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "One line per tool: name, risk tier, binding, operations.")
    @OptionGroup var pack: PackOption

    func run() async throws {
        for tool in try pack.load().tools.values.sorted(by: { $0.name < $1.name }) {
            writeOut("\(tool.name)\t\(tool.riskTier)\t\(tool.binding)\t\(tool.operationsSummary)\n")
        }
    }
}

struct ShowTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "A tool's contract: description, operations, binding and input schema.")
    @OptionGroup var pack: PackOption
    @Argument(help: "Tool name.")
    var name: String

    func run() async throws {
        let tool = try pack.tool(name)
        var text = "\(tool.name): \(tool.description)\nrisk tier: \(tool.riskTier.rawValue)\nbinding: \(tool.binding)\n\(tool.operationsSummary)\n"
        if let http = tool.operations.http {
            text += "http: \(http.method) \(http.urlTemplate)" + (http.auth.map { " (secret from $\($0.secretEnv) in \($0.header))" } ?? "") + "\n"
        }
        switch tool.mcpServer?.endpoint {
        case .stdio(let command, _)?: text += "mcp server \(tool.mcpServer!.name) over stdio: \(command.joined(separator: " "))\n"
        case .http(let url, _, let auth)?:
            text += "mcp server \(tool.mcpServer!.name) over streamable HTTP: \(url)" + (auth.map { " (secret from $\($0.secretEnv) in \($0.header))" } ?? "") + "\n"
        case nil: break
        }
        for rule in tool.rules { text += "rule \(rule.code): \(rule.check.source)\n" }
        if let escalate = tool.escalateWhen { text += "tier 2 when: \(escalate.source)\n" }
        for rule in tool.resultRules { text += "result rule \(rule.code): \(rule.check.source)\n" }
        text += "input schema:\n\(tool.inputSchemaJSON.serializedString())\n"
        writeOut(text)
    }
}

struct CallTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Validate arguments and show what a call would do (--dry-run). Real calls go through the executor, once per step."
    )
    @OptionGroup var pack: PackOption
    @Argument(help: "Tool name.")
    var name: String
    @Option(help: "Arguments as a JSON object.")
    var args: String = "{}"
    @Flag(name: .customLong("dry-run"), help: "Required: nothing is called.")
    var dryRun = false

    func run() async throws {
        guard dryRun else {
            throw ValidationError("only --dry-run is supported: tools act through the executor, exactly once per approved step")
        }
        let tool = try pack.tool(name)
        let arguments: JSONValue
        do { arguments = try JSONValue.parse(args) } catch { throw ValidationError("--args is not JSON: \(error)") }
        let validation = tool.inputSchema.validate(arguments)
        guard validation.isValid else {
            for issue in validation.errors { writeOut("invalid: \(issue)\n") }
            throw ExitCode(1)
        }
        writeOut("arguments valid for \(tool.name)\n")
        switch tool.binding {
        case "http":
            guard let binding = tool.operations.http else { return }
            do {
                let request = try HTTPToolCaller.preview(binding, arguments: arguments, idempotencyKey: "<step id>", timeout: .milliseconds(tool.timeoutMs))
                var text = "would send \(request.method) \(request.url)\n"
                for field in request.headers { text += "  \(field.name): \(field.value)\n" }
                if let body = request.body { text += "  body: \(String(decoding: body, as: UTF8.self))\n" }
                writeOut(text)
            } catch {
                writeOut("the call could not be built: \(error)\n")
                throw ExitCode(1)
            }
        default:
            writeOut("native tool: runs in the executor, inside the transaction that records the step (no preview of its effect yet)\n")
        }
    }
}
