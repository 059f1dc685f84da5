import Foundation
import HTTPClient
import Logging
import Testing

@Suite("HTTPClient against a local server", .timeLimit(.minutes(1)))
struct HTTPClientTests {
    @Test func getReturnsStatusHeadersAndBody() async throws {
        try await withFixture { server, client in
            let response = try await client.execute(HTTPRequest(
                url: server.url("/hello"), headers: ["X-Request-Id": "req-1"]))
            #expect(response.status == 200)
            #expect(response.body == Array("hello world".utf8))
            #expect(response.header("x-test") == "abc")
            #expect(response.header("CONTENT-TYPE") == "text/plain")
            #expect(response.headers.values(for: "x-multi") == ["one", "two"])
            #expect(response.header("X-Seen-User-Agent") == "switchboard-test")
            #expect(response.header("X-Seen-Request-Id") == "req-1")
            #expect(response.header("X-Seen-Method") == "GET")
        }
    }

    @Test func headRequestReturnsHeadersWithoutBody() async throws {
        try await withFixture { server, client in
            let response = try await client.execute(HTTPRequest(method: "HEAD", url: server.url("/hello")))
            #expect(response.status == 200)
            #expect(response.header("X-Test") == "abc")
            #expect(response.body.isEmpty)
        }
    }

    static let echoBodies: [(label: String, body: [UInt8])] = [
        ("small JSON", Array(#"{"model":"gpt","messages":[{"role":"user","content":"héllo ✓"}]}"#.utf8)),
        ("1 MiB JSON", largeJSONBody(size: 1 << 20)),
        ("all byte values incl. NUL", (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }),
        ("empty", []),
    ]

    @Test(arguments: echoBodies.indices)
    func postBodyIsEchoedByteExact(index: Int) async throws {
        let (label, body) = Self.echoBodies[index]
        try await withFixture { server, client in
            let response = try await client.execute(HTTPRequest(
                method: "POST", url: server.url("/echo"),
                headers: ["Content-Type": "application/json"], body: body))
            #expect(response.status == 200, "\(label)")
            #expect(response.body.count == body.count, "\(label)")
            #expect(response.body == body, "\(label)")
            #expect(response.header("X-Echo-Content-Type") == "application/json")
            #expect(response.header("X-Echo-Expect") == "<none>")  // no 100-continue round trip
            #expect(response.header("X-Seen-Method") == "POST")
        }
    }

    @Test func putWithBodyUsesMethodAndNoDefaultContentType() async throws {
        try await withFixture { server, client in
            let response = try await client.execute(HTTPRequest(
                method: "PUT", url: server.url("/echo"), body: Array("payload".utf8)))
            #expect(response.header("X-Seen-Method") == "PUT")
            #expect(response.body == Array("payload".utf8))
            #expect(response.header("X-Echo-Content-Type") == "<none>")
        }
    }

    @Test func status429IsAResponseWithReadableRetryAfter() async throws {
        try await withFixture { server, client in
            let response = try await client.execute(HTTPRequest(url: server.url("/status/429")))
            #expect(response.status == 429)
            #expect(response.header("retry-after") == "7")
            #expect(response.header("Retry-After") == "7")
            #expect(response.body == Array(#"{"error":"status 429"}"#.utf8))
        }
    }

    @Test func status500IsAResponseNotAnError() async throws {
        try await withFixture { server, client in
            let response = try await client.execute(HTTPRequest(url: server.url("/status/500")))
            #expect(response.status == 500)
            #expect(response.body == Array(#"{"error":"status 500"}"#.utf8))
        }
    }

    @Test func slowEndpointTimesOutRetriably() async throws {
        try await withFixture { server, client in
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.execute(HTTPRequest(
                    url: server.url("/slow?seconds=20"), timeout: .milliseconds(500)))
            }
            #expect(error?.code == .timeout)
            #expect(error?.curlCode == 28)
            #expect(error?.isRetriable == true)
        }
    }

    @Test func connectionRefusedIsConnectFailedAndRetriable() async throws {
        try await withFixture { server, client in
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.execute(HTTPRequest(url: "http://127.0.0.1:\(server.closedPort)/"))
            }
            #expect(error?.code == .connectFailed)
            #expect(error?.curlCode == 7)
            #expect(error?.isRetriable == true)
        }
    }

    @Test(arguments: [false, true])
    func responseOverLimitIsTooLarge(chunked: Bool) async throws {
        try await withFixture { server, client in
            let limit = 100_000
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.execute(HTTPRequest(
                    url: server.url("/bytes?n=\(limit + 1)&chunked=\(chunked ? 1 : 0)"), maxResponseBytes: limit))
            }
            #expect(error?.code == .tooLarge)
            #expect(error?.isRetriable == false)

            // Exactly at the limit is fine.
            let response = try await client.execute(HTTPRequest(
                url: server.url("/bytes?n=\(limit)&chunked=\(chunked ? 1 : 0)"), maxResponseBytes: limit))
            #expect(response.body.count == limit)
        }
    }

    @Test func cancellingTheTaskAbortsAnInFlightTransfer() async throws {
        try await withFixture { server, client in
            let slow = Task {
                try await client.execute(HTTPRequest(
                    url: server.url("/slow?id=cancel-me&seconds=40"), timeout: .seconds(50)))
            }
            // Returns once the slow request has reached the server.
            let arrived = try await client.execute(HTTPRequest(url: server.url("/arrived?id=cancel-me")))
            try #require(arrived.status == 200)

            slow.cancel()
            // Without a working abort this would be a 200 after 40 s (or a timeout).
            let error = await #expect(throws: HTTPClientError.self) { try await slow.value }
            #expect(error?.code == .cancelled)
            #expect(error?.isRetriable == false)

            // The worker that ran the aborted transfer is usable again.
            let after = try await client.execute(HTTPRequest(url: server.url("/hello")))
            #expect(after.status == 200)
        }
    }

    @Test func cancellingAQueuedRequestDoesNotWaitForASlot() async throws {
        try await withFixture(maxConcurrentRequests: 1) { server, client in
            // A second client observes the server while `client`'s only slot is busy.
            let probe = HTTPClient(maxConcurrentRequests: 1, logger: Logger(label: "probe"))

            let blocker = Task {
                try await client.execute(HTTPRequest(
                    url: server.url("/slow?id=blocker&seconds=40"), timeout: .seconds(50)))
            }
            let arrived = try await probe.execute(HTTPRequest(url: server.url("/arrived?id=blocker")))
            try #require(arrived.status == 200)

            let queued = Task { try await client.execute(HTTPRequest(url: server.url("/hello"))) }
            queued.cancel()
            // The only slot is busy for 40 s: a prompt .cancelled means it left the queue.
            let error = await #expect(throws: HTTPClientError.self) { try await queued.value }
            #expect(error?.code == .cancelled)

            blocker.cancel()
            let blockerError = await #expect(throws: HTTPClientError.self) { try await blocker.value }
            #expect(blockerError?.code == .cancelled)
            let after = try await client.execute(HTTPRequest(url: server.url("/hello")))
            #expect(after.status == 200)
            await probe.shutdown()
        }
    }

    @Test func alreadyCancelledTaskFailsWithoutSending() async throws {
        try await withFixture { server, client in
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await client.execute(HTTPRequest(url: server.url("/hello")))
            }
            let error = await #expect(throws: HTTPClientError.self) { try await task.value }
            #expect(error?.code == .cancelled)
        }
    }

    @Test func twentyConcurrentRequestsWithFourSlots() async throws {
        try await withFixture(maxConcurrentRequests: 4) { server, client in
            // /barrier releases requests only in groups of 4 in flight at once,
            // so all-200 proves 4-way parallelism and maxInFlight proves the bound.
            let bodies = try await withThrowingTaskGroup(of: (Int, HTTPResponse).self) { group in
                for id in 0..<20 {
                    group.addTask {
                        (id, try await client.execute(HTTPRequest(
                            url: server.url("/barrier?id=\(id)"), timeout: .seconds(40))))
                    }
                }
                var results: [Int: HTTPResponse] = [:]
                for try await (id, response) in group { results[id] = response }
                return results
            }
            #expect(bodies.count == 20)
            for (id, response) in bodies {
                #expect(response.status == 200, "request \(id)")
                #expect(response.body == Array("\(id)".utf8))
            }
            let stats = try await client.execute(HTTPRequest(url: server.url("/stats")))
            let decoded = try JSONDecoder().decode([String: Int].self, from: Data(stats.body))
            #expect(decoded["maxInFlight"] == 4)
        }
    }

    @Test(arguments: ["file:///etc/hostname", "ftp://127.0.0.1/", "gopher://127.0.0.1/"])
    func nonHTTPSchemesAreRefused(url: String) async throws {
        try await withFixture { _, client in
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.execute(HTTPRequest(url: url))
            }
            #expect(error?.code == .invalidRequest)
            #expect(error?.curlCode == 1)  // CURLE_UNSUPPORTED_PROTOCOL: refused by libcurl's allow-list
            #expect(error?.isRetriable == false)
        }
    }

    @Test func redirectsAreNotFollowedByDefault() async throws {
        try await withFixture { server, client in
            let response = try await client.execute(HTTPRequest(url: server.url("/redirect?to=/hello")))
            #expect(response.status == 302)
            #expect(response.header("location") == "/hello")

            let followed = try await client.execute(HTTPRequest(
                url: server.url("/redirect?to=/hello"), followRedirects: true))
            #expect(followed.status == 200)
            #expect(followed.body == Array("hello world".utf8))
            #expect(followed.header("Location") == nil)  // headers of the final hop only
        }
    }

    @Test func redirectToFileSchemeIsRefusedEvenWhenFollowing() async throws {
        try await withFixture { server, client in
            let error = await #expect(throws: HTTPClientError.self) {
                try await client.execute(HTTPRequest(
                    url: server.url("/redirect?to=file:///etc/passwd"), followRedirects: true))
            }
            #expect(error?.code == .invalidRequest)
            #expect(error?.curlCode == 1)
        }
    }

    @Test(arguments: [
        HTTPRequest(url: "http://127.0.0.1/", headers: ["X-Bad": "a\r\nInjected: yes"]),
        HTTPRequest(url: "http://127.0.0.1/", headers: ["Bad Name": "v"]),
        HTTPRequest(method: "GET /x", url: "http://127.0.0.1/"),
        HTTPRequest(url: "http://127.0.0.1/", timeout: .zero),
        HTTPRequest(url: "http://127.0.0.1/", maxResponseBytes: 0),
    ])
    func malformedRequestsAreRejectedBeforeSending(request: HTTPRequest) async throws {
        let client = HTTPClient(logger: Logger(label: "test"))
        let error = await #expect(throws: HTTPClientError.self) { try await client.execute(request) }
        #expect(error?.code == .invalidRequest)
        #expect(error?.curlCode == nil)
        await client.shutdown()
    }

    @Test func shutdownAbortsInFlightAndRejectsNewRequests() async throws {
        try await withFixture { server, client in
            let slow = Task {
                try await client.execute(HTTPRequest(
                    url: server.url("/slow?id=shutdown&seconds=40"), timeout: .seconds(50)))
            }
            let arrived = try await client.execute(HTTPRequest(url: server.url("/arrived?id=shutdown")))
            try #require(arrived.status == 200)

            await client.shutdown()
            let error = await #expect(throws: HTTPClientError.self) { try await slow.value }
            #expect(error?.code == .cancelled)

            let late = await #expect(throws: HTTPClientError.self) {
                try await client.execute(HTTPRequest(url: server.url("/hello")))
            }
            #expect(late?.code == .cancelled)
        }
    }
}

/// A chat-completion-shaped JSON document of exactly `size` bytes with non-ASCII content.
private func largeJSONBody(size: Int) -> [UInt8] {
    let prefix = Array(#"{"model":"test","messages":[{"role":"user","content":""#.utf8)
    let suffix = Array(#""}]}"#.utf8)
    let filler = Array("Ünïcødé ✓ lorem ipsum \\\"quoted\\\" ".utf8)
    var body = prefix
    while body.count + filler.count + suffix.count <= size { body += filler }
    body += Array(repeating: UInt8(ascii: "x"), count: size - body.count - suffix.count)
    body += suffix
    return body
}
