import Auth
import DatabaseTestSupport
import DevStack
import EventBus
import Events
import Foundation
import Glibc
import HTTPClient
import JSON
import JSONSchema
import Kafka
import Logging
import Postgres
import Testing
import LogTopics

/// One platform per test: its own database, broker process and five service processes on free
/// ports, built from the binaries `make test` just built. Nothing here fakes our infrastructure.
final class Platform: @unchecked Sendable {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Replaced by `restartStack` (tests only call it from their own task).
    private(set) var stack: DevStack
    let database: ScratchDatabase
    var databaseURL: String { database.url }
    let http = HTTPClient(maxConcurrentRequests: 8, logger: Logger(label: "e2e.http"))
    private(set) var log: LogReader
    let pool: PostgresPool

    /// `pack` names a file in deploy/packs.
    /// `pack`: a shipped pack's name, or the absolute path of a pack file.
    /// `adminURL`: a Postgres server of the test's own instead of the run's.
    static func start(_ name: String, pack: String = "retail", partitions: Int = 4, adminURL: String? = nil, environment extra: [String: String] = [:], secrets: [String: String] = [:]) async throws -> Platform {
        let env = ProcessInfo.processInfo.environment
        let binDirectory = env["SWITCHBOARD_BIN_DIR"] ?? repoRoot.appendingPathComponent(".build/debug").path
        let runRoot = env["SWITCHBOARD_TEST_RUN_DIR"] ?? repoRoot.appendingPathComponent(".run/test").path
        let database = try await ScratchDatabase.create("e2e_\(name)", adminURL: adminURL)
        let stack = DevStack(options: .init(
            binDirectory: binDirectory, runDirectory: runRoot + "/" + database.name, databaseURL: database.url,
            domainPackPath: pack.hasPrefix("/") ? pack : repoRoot.appendingPathComponent("deploy/packs/\(pack).yaml").path,
            basePort: 0, partitions: partitions, fetchWaitMs: 5, logLevel: "info", extraEnvironment: extra, secretEnvironment: secrets
        ), logger: Logger(label: "e2e.stack"))
        do {
            try await stack.start()
        } catch {
            await stack.stop()
            try? await database.drop()
            throw error
        }
        let log = try LogReader(bootstrap: stack.environment["SWITCHBOARD_BOOTSTRAP"]!)
        return Platform(stack: stack, database: database, log: log)
    }

    init(stack: DevStack, database: ScratchDatabase, log: LogReader) {
        self.stack = stack
        self.database = database
        self.log = log
        pool = PostgresPool(url: database.url, size: 2, logger: Logger(label: "e2e.db"))
    }

    /// Stops the broker and every service and starts them again on the same database, as
    /// `make up` does after Ctrl-C: the new broker restores its topics from the archive.
    func restartStack() async throws {
        await log.stop()
        await stack.stop()
        stack = DevStack(options: stack.options, logger: Logger(label: "e2e.stack"))
        try await stack.start()
        log = try LogReader(bootstrap: stack.environment["SWITCHBOARD_BOOTSTRAP"]!)
    }

    func stop() async {
        await log.stop()
        await pool.close()
        await stack.stop()
        await http.shutdown()
        try? await database.drop()
    }

    /// Personal data the tests send in customer messages, which must never be on the log in clear.
    static let seededPII = ["ada.lovelace@example.com": "seeded PII (email)", "4111 1111 1111 1111": "seeded PII (card)", "4111111111111111": "seeded PII (card)"]

    /// What must not leak from this platform: every secret of its token key set (an HS256
    /// secret, the base64 lines of an ES256 private key), its database password, seeded PII.
    func leakNeedles() -> [(needle: [UInt8], kind: String)] {
        var needles = Self.seededPII.map { (Array($0.key.utf8), $0.value) }
        let path = stack.options.runDirectory + "/auth-keys.json"
        if let data = FileManager.default.contents(atPath: path), let keys = try? JSONValue.parse(Array(data))["keys"]?.arrayValue {
            for key in keys {
                if let secret = key["secret"]?.stringValue, secret.count >= 16 { needles.append((Array(secret.utf8), "token secret \(key["kid"]?.stringValue ?? "?")")) }
                for line in (key["private_key_pem"]?.stringValue ?? "").split(separator: "\n") where line.count >= 16 && !line.hasPrefix("-----") {
                    needles.append((Array(line.utf8), "private key \(key["kid"]?.stringValue ?? "?")"))
                }
            }
        }
        if let password = URLComponents(string: database.url)?.password, password.count >= 6 { needles.append((Array(password.utf8), "database password")) }
        return needles
    }

    static func contains(_ haystack: some Collection<UInt8>, _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, haystack.count >= needle.count else { return false }
        let bytes = Array(haystack)
        var index = 0
        while index <= bytes.count - needle.count {
            if bytes[index] == first, bytes[index..<(index + needle.count)].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }

    /// The producer of events a test forges to prove the services refuse them.
    static let forger = "forger@test"

    /// Runs `body` against a fresh platform and always stops it, printing service logs on failure.
    static func with(_ name: String, pack: String = "retail", partitions: Int = 4, adminURL: String? = nil, environment: [String: String] = [:], secrets: [String: String] = [:], _ body: (Platform) async throws -> Void) async throws {
        let platform = try await start(name, pack: pack, partitions: partitions, adminURL: adminURL, environment: environment, secrets: secrets)
        do {
            try await body(platform)
            // Every event the services appended during the test matches its published schema
            // (records that are not events at all, and events from `forger`, were injected by
            // the test itself).
            for record in platform.log.allRecords {
                guard let event = try? EventCodec.decode(record.value), event.producer != forger else { continue }
                let problems = PublishedSchemas.validate(event)
                #expect(problems.isEmpty, "\(event.type) from \(event.producer): \(problems)")
            }
            // No event on the log, and no metric any service exports, holds a configured secret
            // or the personal data the tests send (docs/SECURITY.md; scripts/leak-check.py checks
            // the service logs of the whole run).
            let needles = platform.leakNeedles()
            for record in platform.log.allRecords {
                for (needle, kind) in needles where Platform.contains(record.value, needle) {
                    Issue.record("\(kind) in a \(record.header(EventHeaders.type) ?? "record") on \(record.topic)")
                }
            }
            for service in DevStack.services {
                guard let metrics = try? await platform.http.execute(HTTPRequest(method: "GET", url: platform.stack.url(of: service) + "/metrics", timeout: .seconds(5))) else { continue }
                for (needle, kind) in needles where Platform.contains(metrics.body, needle) {
                    Issue.record("\(kind) in \(service)'s metrics")
                }
            }
        } catch {
            for service in DevStack.services {
                print("---- \(service) log (tail) ----\n\(platform.stack.process(service)?.logTail(lines: 30) ?? "")")
            }
            await platform.stop()
            throw error
        }
        await platform.stop()
    }

    struct Reply {
        var status: Int
        var json: JSONValue
        var contentType: String?
    }

    func post(_ conversation: String, _ body: String, wait: Int? = 15, headers: HTTPHeaders = ["content-type": "application/json"]) async throws -> Reply {
        try await post(conversation, bytes: Array(body.utf8), wait: wait, headers: headers)
    }

    /// An administrator of the demo tenant: what the tests' requests carry unless they say otherwise.
    var token: String { stack.adminToken }

    /// `headers` plus the administrator's token, unless they carry credentials of their own
    /// (`authorization: none` sends none).
    func authorized(_ headers: HTTPHeaders) -> HTTPHeaders {
        var headers = headers
        if headers["authorization"] == "none" { headers.remove(name: "authorization") } else if headers["authorization"] == nil && headers["x-api-key"] == nil {
            headers.add(name: "authorization", value: "Bearer \(token)")
        }
        return headers
    }

    /// A token of `tenant` with `scopes` (a user), or a customer session when `customer` is set.
    func token(tenant: String = "default", scopes: Set<Scope> = [.admin], subject: String = "e2e-user", kind: PrincipalKind = .user, customer: String? = nil) throws -> String {
        if let customer {
            return try stack.token(Principal(tenantID: tenant, subject: customer, kind: .customerSession, scopes: [.chatSend], customerID: customer))
        }
        return try stack.token(Principal(tenantID: tenant, subject: subject, kind: kind, scopes: scopes))
    }

    func post(_ conversation: String, bytes: [UInt8], wait: Int? = 15, headers: HTTPHeaders = ["content-type": "application/json"]) async throws -> Reply {
        let query = wait.map { "?wait=\($0)" } ?? ""
        let response = try await http.execute(HTTPRequest(method: "POST", url: "\(stack.gatewayURL)/v1/conversations/\(conversation)/messages\(query)", headers: authorized(headers), body: bytes, timeout: .seconds(40)))
        return Reply(status: response.status, json: (try? JSONValue.parse(response.body)) ?? .null, contentType: response.header("content-type"))
    }

    func request(_ method: String, _ path: String, body: String, service: String = "gateway", headers: HTTPHeaders = [:]) async throws -> Reply {
        var all = headers
        all.replaceOrAdd(name: "content-type", value: "application/json")
        let response = try await http.execute(HTTPRequest(method: method, url: stack.url(of: service) + path, headers: authorized(all), body: Array(body.utf8), timeout: .seconds(10)))
        return Reply(status: response.status, json: (try? JSONValue.parse(response.body)) ?? .null, contentType: response.header("content-type"))
    }

    func get(_ path: String, service: String = "gateway", headers: HTTPHeaders = [:]) async throws -> Reply {
        let response = try await http.execute(HTTPRequest(method: "GET", url: stack.url(of: service) + path, headers: authorized(headers), timeout: .seconds(10)))
        return Reply(status: response.status, json: (try? JSONValue.parse(response.body)) ?? .null, contentType: response.header("content-type"))
    }

    /// Another process of `service` beside the stack's: the same binary and environment, its
    /// own address and instance id (a second replica behind a load balancer). It exits when
    /// `stop()` closes its stdin.
    func startReplica(_ service: String) throws -> Replica {
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: stack.options.binDirectory + "/switchboard-\(service)")
        process.environment = stack.environment.merging([
            "SWITCHBOARD_\(service.uppercased())_ADDR": "127.0.0.1:\(port)", "SWITCHBOARD_INSTANCE_ID": "\(service)-2", "SWITCHBOARD_EXIT_ON_STDIN_EOF": "1",
        ]) { _, new in new }
        let stdin = Pipe()
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return Replica(url: "http://127.0.0.1:\(port)", process: process, stdin: stdin)
    }

    struct Replica {
        let url: String
        let process: Process
        let stdin: Pipe
        func stop() {
            try? stdin.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }

    /// The texts delivered to the customer in a conversation, in log order.
    func deliveredReplies(_ conversation: String) throws -> [String] {
        try log.events(conversation: conversation).filter { $0.type == ReplyDelivered.eventType }.map { try $0.decode(ReplyDelivered.self).text }
    }

    /// The pending approval of a conversation, as `GET /v1/approvals` on HILQueue shows it.
    func pendingApproval(_ conversation: String) async throws -> JSONValue {
        try await eventually("a pending approval in \(conversation)") {
            try await get("/v1/approvals", service: "hilqueue").json["approvals"]?.arrayValue?.first { $0["conversation_id"] == .string(conversation) }
        }
    }

    /// Polls until `check` returns a value (projections are eventually consistent).
    func eventually<T>(_ what: String, timeout: Duration = .seconds(20), _ check: () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let value = try await check() { return value }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw DevStackError("timed out waiting for \(what)")
    }
}

/// A separate consumer reading the whole conversation log (no group), as an analyst would.
final class LogReader: Sendable {
    private let consumer: KafkaConsumer
    private let task: Task<Void, Never>
    private let received = Received()

    final class Received: @unchecked Sendable {
        // Appended from the consumer task, read from the test task.
        private let lock = NSLock()
        private var records: [KafkaRecord] = []
        func append(_ record: KafkaRecord) { lock.withLock { records.append(record) } }
        var all: [KafkaRecord] { lock.withLock { records } }
    }

    init(bootstrap: String, topic: String = Topics.conversations) throws {
        var config = KafkaConfig(bootstrapServers: bootstrap, clientID: "e2e-log-reader")
        config.fetchWaitMaxMs = 5
        let consumer = try KafkaConsumer(config: config, subscription: .allPartitions(topics: [topic], startAt: .earliest), logger: Logger(label: "e2e.log"))
        self.consumer = consumer
        let received = self.received
        task = Task { try? await consumer.run { record in received.append(record) } }
    }

    func stop() async {
        task.cancel()
        _ = await task.value
        await consumer.close()
    }

    var allRecords: [KafkaRecord] { received.all }

    /// Distinct events (by id: a redelivered reaction appears once), in log order per conversation.
    func events(conversation: String) -> [EventEnvelope] {
        var seen = Set<UUID>()
        return received.all.compactMap { try? EventCodec.decode($0.value) }
            .filter { $0.conversationID == conversation && seen.insert($0.id).inserted }
    }

    func waitForEvents(conversation: String, count: Int, timeout: Duration = .seconds(20)) async throws -> [EventEnvelope] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let events = events(conversation: conversation)
            if events.count >= count { return events }
            try await Task.sleep(for: .milliseconds(50))
        }
        let got = events(conversation: conversation).map(\.type)
        throw DevStackError("expected \(count) events for \(conversation), got \(got.count): \(got)")
    }
}

/// Validates an event against the published schemas in docs/events.
enum PublishedSchemas {
    static let envelope = load("envelope.v1.json")
    static let lock = NSLock()
    nonisolated(unsafe) static var payloads: [String: JSONSchema] = [:]

    static func load(_ file: String) -> JSONSchema {
        let url = Platform.repoRoot.appendingPathComponent("docs/events/\(file)")
        return try! JSONSchema(try! JSONValue.parse(Array(try! Data(contentsOf: url))))
    }

    static func validate(_ event: EventEnvelope) -> [String] {
        var problems: [String] = []
        let envelopeResult = envelope.validate(try! JSONValue.parse(EventCodec.encode(event)))
        problems += envelopeResult.errors.map { "envelope \($0)" }
        let file = "\(event.type).v\(event.version).json"
        let schema = lock.withLock {
            if let cached = payloads[file] { return cached }
            let loaded = load(file)
            payloads[file] = loaded
            return loaded
        }
        problems += schema.validate(event.payload).errors.map { "\(event.type) \($0)" }
        return problems
    }
}

/// A port nobody listens on now (the kernel's choice).
func freePort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { Glibc.close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
