public import Auth
import Foundation
import HTTPClient
import JSON
public import Logging

/// The whole platform on one machine: the development broker and the five services as real
/// processes, each configured by nothing but the variables in the env file. Used by
/// `switchboard up` and by the end-to-end tests, so both exercise the same start-up path.
public final class DevStack: @unchecked Sendable {
    public static let services = ["gateway", "planner", "executor", "verifier", "hilqueue"]

    public struct Options: Sendable {
        public var binDirectory: String
        public var runDirectory: String
        public var databaseURL: String
        public var domainPackPath: String
        /// HTTP port per service; missing ones get `basePort + index` (0: a free port each).
        public var ports: [String: Int]
        public var basePort: Int
        public var partitions: Int
        public var fetchWaitMs: Int
        public var logLevel: String
        /// The broker restores its topics from the database's archive at start (a stack
        /// restarted on the same database continues where it stopped).
        public var restoreFromArchive = true
        /// Added to every service's environment (after the stack's own settings).
        public var extraEnvironment: [String: String]
        /// Added to every service's environment but never written to the env file (API keys).
        public var secretEnvironment: [String: String]
        public init(binDirectory: String, runDirectory: String, databaseURL: String, domainPackPath: String, ports: [String: Int] = [:], basePort: Int = 8080, partitions: Int = 8, fetchWaitMs: Int = 5, logLevel: String = "info", extraEnvironment: [String: String] = [:], secretEnvironment: [String: String] = [:]) {
            self.extraEnvironment = extraEnvironment
            self.secretEnvironment = secretEnvironment
            self.binDirectory = binDirectory
            self.runDirectory = runDirectory
            self.databaseURL = databaseURL
            self.domainPackPath = domainPackPath
            self.basePort = basePort
            self.ports = ports
            self.partitions = partitions
            self.fetchWaitMs = fetchWaitMs
            self.logLevel = logLevel
        }
    }

    public let options: Options
    public let logger: Logger
    public private(set) var broker: ManagedProcess?
    // Guarded by `lock`: services are restarted from test tasks.
    private let lock = NSLock()
    private var processes: [String: ManagedProcess] = [:]
    public private(set) var environment: [String: String] = [:]
    /// The token keys the services verify with: from `SWITCHBOARD_AUTH_KEYS` in the extra
    /// environment, or made fresh for this stack (written, owner-only, to the run folder).
    public private(set) var keySet: AuthKeySet?
    let http = HTTPClient(maxConcurrentRequests: 4, userAgent: "switchboard-devstack", logger: Logger(label: "devstack.http"))

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    public var envFilePath: String { options.runDirectory + "/env" }
    public var gatewayURL: String { environment["GATEWAY_URL"] ?? "" }

    /// What `make up` passes through from its own environment to the services: the planner's
    /// model settings (docs/BRAINS.md) and the variables holding API keys — the one
    /// `SWITCHBOARD_LLM_API_KEY_ENV` names, and those listed in `SWITCHBOARD_FORWARD_ENV`
    /// (comma-separated, for a catalog's `api_key_env` names). Keys are never written to the
    /// run folder's env file.
    public static func forwardedEnvironment(from env: [String: String]) -> (settings: [String: String], secrets: [String: String]) {
        var settings: [String: String] = [:]
        for name in [
            "SWITCHBOARD_LLM_BASE_URL", "SWITCHBOARD_LLM_MODEL", "SWITCHBOARD_LLM_API_KEY_ENV", "SWITCHBOARD_MODEL_CATALOG",
            "SWITCHBOARD_HIL_SLA_SECONDS", "SWITCHBOARD_HIL_HEARTBEAT_TIMEOUT_SECONDS", "SWITCHBOARD_FAULTS",
            "SWITCHBOARD_RATE_LIMIT_CLIENT", "SWITCHBOARD_RATE_LIMIT_SESSION", "SWITCHBOARD_RATE_LIMIT_ADDRESS", "SWITCHBOARD_TRUSTED_PROXIES",
            "SWITCHBOARD_SHED_MAX_HELD", "SWITCHBOARD_SHED_MAX_LAG",
        ] {
            if let value = env[name], !value.isEmpty { settings[name] = value }
        }
        // OpenTelemetry's standard variables (span export, deploy/README.md, "Traces"); header
        // values can hold a collector's credentials, so those stay out of the env file.
        for (name, value) in env where name.hasPrefix("OTEL_") && !value.isEmpty && !name.hasSuffix("_HEADERS") { settings[name] = value }
        var secretNames = (env["SWITCHBOARD_FORWARD_ENV"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        secretNames += env.keys.filter { $0.hasPrefix("OTEL_") && $0.hasSuffix("_HEADERS") }
        if let keyName = env["SWITCHBOARD_LLM_API_KEY_ENV"] { secretNames.append(keyName) }
        var secrets: [String: String] = [:]
        for name in secretNames where !name.isEmpty {
            if let value = env[name] { secrets[name] = value }
        }
        return (settings, secrets)
    }
    public func url(of service: String) -> String { "http://" + (environment["SWITCHBOARD_\(service.uppercased())_ADDR"] ?? "") }
    public func process(_ service: String) -> ManagedProcess? { lock.withLock { processes[service] } }

    /// Starts the broker, writes the env file, starts every service and waits until each is ready.
    public func start() async throws {
        try FileManager.default.createDirectory(atPath: options.runDirectory + "/logs", withIntermediateDirectories: true)
        let readyFile = options.runDirectory + "/broker.bootstrap"
        try? FileManager.default.removeItem(atPath: readyFile)
        broker = try ManagedProcess(
            name: "broker", executable: options.binDirectory + "/switchboard",
            arguments: ["broker", "--partitions", String(options.partitions), "--bootstrap-file", readyFile],
            // The URL (it may hold a password) in the environment, not on the command line.
            environment: ["PATH": "/usr/bin:/bin", "SWITCHBOARD_EXIT_ON_STDIN_EOF": "1"]
                .merging(options.restoreFromArchive ? ["SWITCHBOARD_ARCHIVE_DATABASE_URL": options.databaseURL] : [:]) { a, _ in a },
            logPath: options.runDirectory + "/logs/broker.log"
        )
        // A restore writes the archive back first: longer with more history.
        let bootstrap = try await waitForFile(readyFile, timeout: .seconds(options.restoreFromArchive ? 300 : 20))
        var env: [String: String] = [
            "SWITCHBOARD_BOOTSTRAP": bootstrap,
            "DATABASE_URL": options.databaseURL,
            "SWITCHBOARD_DOMAIN_PACK": options.domainPackPath,
            "SWITCHBOARD_KAFKA_FETCH_WAIT_MS": String(options.fetchWaitMs),
            "SWITCHBOARD_KAFKA_SESSION_TIMEOUT_MS": "4000",
            "SWITCHBOARD_LOG_LEVEL": options.logLevel,
            // A development stack: the executor seeds its demo systems of record.
            "SWITCHBOARD_DEMO_DATA": "true",
        ]
        for (index, service) in Self.services.enumerated() {
            var port = try options.ports[service] ?? (options.basePort == 0 ? freeLoopbackPort() : options.basePort + index)
            // Distinct within the stack (a random free port can come up twice).
            while options.basePort == 0, options.ports[service] == nil, env.values.contains("127.0.0.1:\(port)") { port = try freeLoopbackPort() }
            env["SWITCHBOARD_\(service.uppercased())_ADDR"] = "127.0.0.1:\(port)"
        }
        env["GATEWAY_URL"] = "http://" + env["SWITCHBOARD_GATEWAY_ADDR"]!
        env.merge(options.extraEnvironment) { _, extra in extra }
        try configureTokens(&env)
        environment = env
        try writeEnvironmentFile()
        for service in Self.services { try startService(service) }
        for service in Self.services {
            // A port found free can be taken before the service binds it (parallel test
            // platforms); such a service gets a new port and starts again.
            var attempt = 1
            while true {
                do {
                    try await waitUntilReady(service)
                    break
                } catch let error as DevStackError where attempt < 4 && (process(service)?.logTail() ?? "").contains("Address already in use") && options.ports[service] == nil && options.basePort == 0 {
                    logger.warning("port taken, restarting on another", metadata: ["service": "\(service)", "error": "\(error)"])
                    attempt += 1
                    environment["SWITCHBOARD_\(service.uppercased())_ADDR"] = "127.0.0.1:\(try freeLoopbackPort())"
                    if service == "gateway" { environment["GATEWAY_URL"] = "http://" + environment["SWITCHBOARD_GATEWAY_ADDR"]! }
                    try writeEnvironmentFile()
                    try startService(service)
                }
            }
        }
    }

    /// Development identities (docs/SECURITY.md): a key set of the stack's own, unless one is
    /// configured, and tokens for the demo tenant in the env file, which the README's curl
    /// examples, the inbox and the widget use: an administrator, the demo agents, and a
    /// customer session for cus_1001. Dev tokens live a week; production mints its own.
    func configureTokens(_ env: inout [String: String]) throws {
        if let configured = env["SWITCHBOARD_AUTH_KEYS"] ?? env["SWITCHBOARD_AUTH_KEYS_FILE"].flatMap({ FileManager.default.contents(atPath: $0) }).map({ String(decoding: $0, as: UTF8.self) }) {
            keySet = try AuthKeySet(json: configured)
            return
        }
        let generated = try AuthKeySet.generateDevelopment()
        let path = options.runDirectory + "/auth-keys.json"
        FileManager.default.createFile(atPath: path, contents: Data(try generated.jsonString().utf8), attributes: [.posixPermissions: 0o600])
        env["SWITCHBOARD_AUTH_KEYS_FILE"] = path
        keySet = generated
        let week: Duration = .seconds(7 * 86_400)
        env["SWITCHBOARD_TOKEN"] = try token(Principal(tenantID: "default", subject: "dev-admin", kind: .user, scopes: [.admin]), ttl: week)
        for agent in ["agent_ana", "agent_bo", "agent_cy"] {
            env["SWITCHBOARD_AGENT_TOKEN_\(agent.dropFirst(6).uppercased())"] = try token(Principal(tenantID: "default", subject: agent, kind: .agent, scopes: [.hilAgent]), ttl: week)
        }
        env["SWITCHBOARD_CUSTOMER_TOKEN"] = try token(Principal(tenantID: "default", subject: "cus_1001", kind: .customerSession, scopes: [.chatSend], customerID: "cus_1001"), ttl: .seconds(12 * 3600))
    }

    static func isDevToken(_ name: String) -> Bool {
        name == "SWITCHBOARD_TOKEN" || name == "SWITCHBOARD_CUSTOMER_TOKEN" || name.hasPrefix("SWITCHBOARD_AGENT_TOKEN_")
    }

    /// A token for `principal`, signed with the stack's key set (tests and the CLI's own platforms).
    public func token(_ principal: Principal, ttl: Duration = .seconds(3600)) throws -> String {
        guard let keySet else { throw DevStackError("the stack has no token keys yet (start it first)") }
        return try TokenIssuer(keySet: keySet).issue(for: principal, ttl: ttl)
    }

    /// An administrator of the demo tenant, for callers that drive the whole platform.
    public var adminToken: String { (try? token(Principal(tenantID: "default", subject: "switchboard-cli", kind: .user, scopes: [.admin]))) ?? "" }

    func writeEnvironmentFile() throws {
        let text = environment.keys.sorted().map { "\($0)=\(environment[$0]!)" }.joined(separator: "\n") + "\n"
        try text.write(toFile: envFilePath, atomically: true, encoding: .utf8)
    }

    /// Starts one service with exactly the env file's variables (what an operator does by hand).
    public func startService(_ service: String) throws {
        let process = try ManagedProcess(
            name: service, executable: options.binDirectory + "/switchboard-\(service)", arguments: [],
            // The dev tokens are for people and clients, not for the services.
            environment: environment.filter { !Self.isDevToken($0.key) }.merging(options.secretEnvironment) { a, _ in a }.merging(["SWITCHBOARD_EXIT_ON_STDIN_EOF": "1"]) { a, _ in a },
            logPath: options.runDirectory + "/logs/\(service).log"
        )
        lock.withLock { processes[service] = process }
    }

    public func waitUntilReady(_ service: String, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        let url = url(of: service) + "/ready"
        while ContinuousClock.now < deadline {
            if let process = process(service), !process.isRunning {
                throw DevStackError("\(service) exited with status \(process.exitStatus ?? -1) before it was ready:\n\(process.logTail())")
            }
            let request = HTTPRequest(method: "GET", url: url, timeout: .seconds(2), connectTimeout: .seconds(1))
            // Only this service's answer counts: a port chosen free can be taken by another
            // process meanwhile, whose /ready would otherwise pass for this one's.
            if let response = try? await http.execute(request), response.status == 200,
               (try? JSONValue.parse(response.body))?["service"]?.stringValue == service { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DevStackError("\(service) not ready within \(timeout):\n\(process(service)?.logTail() ?? "")")
    }

    /// Stops services in reverse start order, then the broker.
    public func stop() async {
        for service in Self.services.reversed() {
            if let process = process(service) { await process.stop() }
        }
        if let broker { await broker.stop() }
        await http.shutdown()
    }

    func waitForFile(_ path: String, timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let data = FileManager.default.contents(atPath: path) {
                let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if !text.isEmpty { return text }
            }
            if let broker, !broker.isRunning {
                throw DevStackError("broker exited before it was ready:\n\(broker.logTail())")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw DevStackError("broker did not write \(path) within \(timeout)")
    }
}

/// A port that was free on 127.0.0.1 a moment ago, chosen at random below the kernel's
/// ephemeral range (32768+), so outgoing connections (Kafka, Postgres, HTTP clients) cannot
/// take it between this check and the service binding it.
public func freeLoopbackPort() throws -> Int {
    for _ in 0..<200 {
        let port = Int.random(in: 20000..<32000)
        if isFreeLoopbackPort(port) { return port }
    }
    throw DevStackError("no free port found in 20000..<32000")
}

func isFreeLoopbackPort(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } } == 0
}
