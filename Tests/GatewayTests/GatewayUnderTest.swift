import AccessControl
import APIContract
import AccessTestSupport
import Auth
import CustomerKeys
import Events
import Foundation
@testable import GatewayApp
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSON
import Logging
import NIOCore
import Postgres
import ReadModels
import ServiceRuntime
import Synchronization

/// The gateway's HTTP API in process (Hummingbird's router test framework: no socket), built as
/// the service builds it, reading from `pool` in the given schemas and appending to `publish`.
enum GatewayUnderTest {
    static let tenant = "default"

    static func run(
        pool: PostgresPool,
        gateway: String = ReadModels.gateway.liveSchema, cases: String = ReadModels.cases.liveSchema, costs: String = ReadModels.costs.liveSchema,
        publish: @escaping @Sendable (EventEnvelope) async throws -> Void = { _ in throw UnexpectedPublish() },
        shedder: LoadShedder = LoadShedder(settings: .init()),
        _ test: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let api = GatewayAPI(
            publish: publish,
            conversations: ConversationQueries(pool: pool, schema: gateway), audit: AuditQueries(pool: pool, schema: gateway),
            tickets: TicketQueries(pool: pool, schema: cases), costs: CostQueries(pool: pool, schema: costs),
            waiters: ReplyWaiters(), producer: "gateway@test", sessionIssuer: try TokenIssuer(keySet: TestAccess.keySet), vault: CustomerKeyVault(pool: pool), shedder: shedder)
        let contract = try APIDocument(yaml: GatewayOpenAPI.yaml)
        var logger = Logger(label: "gateway-route-tests")
        logger.logLevel = .critical
        // Requests carry an administrator's token of the tenant unless a test sends its own.
        try await Application(router: makeRouter { api.addRoutes(to: SecuredRoutes(router: $0, gatekeeper: TestAccess.gatekeeper, contract: contract)) }, logger: logger)
            .test(.router) { client in try await test(SignedClient(client)) }
    }

    /// For routes that must reject a request before touching the database: every query through
    /// this pool fails (nothing listens on port 1), so a check that came too late shows as a 500.
    static func withoutDatabase(
        publish: @escaping @Sendable (EventEnvelope) async throws -> Void = { _ in throw UnexpectedPublish() },
        _ test: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        var logger = Logger(label: "gateway-route-tests.no-db")
        logger.logLevel = .critical
        let pool = PostgresPool(url: "postgres://nobody@127.0.0.1:1/nothing?connect_timeout=2", size: 1, logger: logger)
        do {
            try await run(pool: pool, publish: publish, test)
            await pool.close()
        } catch {
            await pool.close()
            throw error
        }
    }

    struct UnexpectedPublish: Error {}
}

/// Events a test's publish closure received.
final class PublishedEvents: Sendable {
    private let events = Mutex<[EventEnvelope]>([])
    var all: [EventEnvelope] { events.withLock { $0 } }
    func append(_ event: EventEnvelope) { events.withLock { $0.append(event) } }
}

extension TestResponse {
    /// The body as JSON (nil when it is not).
    var json: JSONValue? { try? JSONValue.parse(Array(buffer: body)) }
    var text: String { String(buffer: body) }
}

extension TestClientProtocol {
    func get(_ uri: String) async throws -> TestResponse {
        try await execute(uri: uri, method: .get)
    }

    func post(_ uri: String, json body: String, headers: HTTPFields = [.contentType: "application/json"]) async throws -> TestResponse {
        try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
    }
}
