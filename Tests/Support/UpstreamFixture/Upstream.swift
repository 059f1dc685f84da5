import Foundation
import HTTPClient
import JSON

/// An upstream API under test control (Resources/upstream.py, see its docstring for the
/// scenarios), as a child process that exits when the test process closes its stdin.
public final class Upstream: Sendable {
    private let fixture: FixtureProcess
    public var port: Int { fixture.port }

    private init(_ fixture: FixtureProcess) {
        self.fixture = fixture
    }

    public static func start() throws -> Upstream {
        guard let script = Bundle.module.url(forResource: "upstream", withExtension: "py") else { throw Failure(description: "upstream.py missing from the bundle") }
        return Upstream(try FixtureProcess([script.path]))
    }

    public func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Requests the upstream received: (path, Idempotency-Key).
    public func log(_ client: HTTPClient) async throws -> [(path: String, key: String?)] {
        let response = try await client.execute(HTTPRequest(url: url("/_log")))
        guard case .array(let entries) = try JSONValue.parse(response.body) else { return [] }
        return entries.map { (path: $0["path"]?.stringValue ?? "", key: $0["idempotency_key"]?.stringValue) }
    }

    /// Switches the `orders` scenario down (503) or back up.
    public func setDown(_ down: Bool, _ client: HTTPClient) async throws {
        _ = try await client.execute(HTTPRequest(method: "POST", url: url(down ? "/_down" : "/_up")))
    }

    public func stop() {
        fixture.stop()
    }

    public struct Failure: Error, CustomStringConvertible { public var description: String }
}

