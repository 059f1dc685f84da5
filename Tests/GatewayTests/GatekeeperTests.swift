import AccessControl
import AccessTestSupport
import Auth
import DatabaseTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JSON
import Logging
import NIOCore
import ServiceRuntime
import Testing

/// The gatekeeper over a real socket (the peer address is real) and API keys in Postgres: what
/// the route tests, in process and with tokens only, cannot show.
@Suite(.timeLimit(.minutes(2)))
struct GatekeeperTests {
    /// Two endpoints: a list (header credentials only) and a stream (token in the query too).
    static func withServer(settings: AccessSettings, apiKeys: APIKeyStore? = nil, _ test: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        var logger = Logger(label: "gatekeeper-tests")
        logger.logLevel = .critical
        let gatekeeper = Gatekeeper(settings: settings, apiKeys: apiKeys)
        let router = makeRouter { router in
            let routes = SecuredRoutes(router: router, gatekeeper: gatekeeper)
            let whoami: SecuredRoutes.Handler = { _, _, principal in
                Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: JSONValue.object([
                    "tenant": .string(principal.tenantID), "subject": .string(principal.subject), "kind": .string(principal.kind.rawValue),
                ]).serialized())))
            }
            routes.get("/v1/things", Access(.conversationsRead), use: whoami)
            routes.get("/v1/things/stream", Access(.conversationsRead, tokenInQuery: true), use: whoami)
        }
        try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger).test(.live, test)
    }

    static func settings(addressLimit: RateLimiter.Configuration = .init(capacity: 100_000, refillPerSecond: 10_000), trustedProxies: Set<String> = []) -> AccessSettings {
        AccessSettings(
            keySet: TestAccess.keySet, clientLimit: .init(capacity: 100_000, refillPerSecond: 10_000),
            sessionLimit: .init(capacity: 100_000, refillPerSecond: 10_000), addressLimit: addressLimit, trustedProxies: trustedProxies)
    }

    @Test func aTokenInTheQueryIsTakenOnStreamsOnly() async throws {
        try await Self.withServer(settings: Self.settings()) { client in
            let token = TestAccess.token(scopes: [.conversationsRead])
            let stream = try await client.execute(uri: "/v1/things/stream?access_token=\(token)", method: .get)
            #expect(stream.status == .ok)
            let list = try await client.execute(uri: "/v1/things?access_token=\(token)", method: .get)
            #expect(list.status == .unauthorized, "a token in a URL ends up in logs and histories: only where browsers cannot send headers")
            #expect(try await client.execute(uri: "/v1/things", method: .get, headers: [.authorization: "Bearer \(token)"]).status == .ok)
        }
    }

    /// Requests without valid credentials are limited per client address. Behind a trusted load
    /// balancer the address is the one it forwards; from anyone else the header is ignored, or
    /// a client could pick a fresh address for every guess.
    @Test func theClientAddressComesFromXForwardedForOnlyBehindATrustedProxy() async throws {
        let limit = RateLimiter.Configuration(capacity: 2, refillPerSecond: 0.001)
        try await Self.withServer(settings: Self.settings(addressLimit: limit, trustedProxies: ["127.0.0.1"])) { client in
            func anonymous(from address: String) async throws -> HTTPResponse.Status {
                try await client.execute(uri: "/v1/things", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "198.51.100.1, \(address)"]).status
            }
            #expect(try await anonymous(from: "203.0.113.7") == .unauthorized)
            #expect(try await anonymous(from: "203.0.113.7") == .unauthorized)
            let limited = try await client.execute(uri: "/v1/things", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "203.0.113.7"])
            #expect(limited.status == .tooManyRequests && limited.headers[.retryAfter] != nil)
            #expect(try await anonymous(from: "203.0.113.8") == .unauthorized, "another client behind the same balancer has its own bucket")
        }
        try await Self.withServer(settings: Self.settings(addressLimit: limit)) { client in
            for address in ["203.0.113.7", "203.0.113.8"] {
                #expect(try await client.execute(uri: "/v1/things", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: address]).status == .unauthorized)
            }
            let third = try await client.execute(uri: "/v1/things", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9"])
            #expect(third.status == .tooManyRequests, "an untrusted peer's header is ignored: all three came from 127.0.0.1")
        }
    }

    @Test func apiKeysFromPostgresAdmitTheirTenantWithTheirScopesUntilRevoked() async throws {
        try await TestDB.withPool { pool in
            let store = APIKeyStore(pool: pool)
            try await store.migrate(logger: Logger(label: "gatekeeper-tests"))
            let tenant = TestDB.uniqueName("tenant")
            let (reader, readerRecord) = try await store.create(tenantID: tenant, scopes: [.conversationsRead], label: "reporting")
            let (sender, _) = try await store.create(tenantID: tenant, scopes: [.chatSend], label: "widget backend")
            try await Self.withServer(settings: Self.settings(), apiKeys: store) { client in
                func call(_ key: String) async throws -> (HTTPResponse.Status, JSONValue?) {
                    let response = try await client.execute(uri: "/v1/things", method: .get, headers: [HTTPField.Name("X-API-Key")!: key])
                    return (response.status, try? JSONValue.parse(Array(buffer: response.body)))
                }
                let (status, body) = try await call(reader)
                #expect(status == .ok)
                #expect(body?["tenant"] == .string(tenant) && body?["kind"] == "api_key", "the key's tenant, whatever the request says: \(String(describing: body))")
                #expect(try await call(sender).0 == .forbidden, "a key has only its own scopes")
                var forged = reader
                forged.removeLast()
                forged.append(reader.last == "A" ? "B" : "A")
                #expect(try await call(forged).0 == .unauthorized, "the right id with the wrong secret")
                #expect(try await store.revoke(keyID: readerRecord.keyID, tenantID: "another-tenant") == false, "only its own tenant revokes a key")
                #expect(try await store.revoke(keyID: readerRecord.keyID, tenantID: tenant))
                #expect(try await call(reader).0 == .unauthorized, "revoked: refused at once by this process (other replicas' caches within 30 s)")
            }
            let secret = String(reader.split(separator: "_").last ?? "")
            #expect(secret.count >= 16)
            let stored = try await pool.query("SELECT count(*)::bigint AS n FROM access.api_keys k WHERE tenant_id = \(tenant) AND position(\(secret) in row_to_json(k)::text) > 0")
            #expect(try stored.first(where: { _ in true })?.decode("n", as: Int64.self) == 0, "only a salted hash is stored")
        }
    }
}
