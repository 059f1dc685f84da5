import Events
import Foundation
@testable import GatewayApp
import HTTPTypes
import HummingbirdTesting
import JSON
import NIOCore
import ServiceRuntime
import Testing

/// Bad input through the real routes and middleware: the answer is problem+json naming the
/// problem (`type`) and, where there is one, the `field`; nothing is appended and the database
/// is not asked (see `GatewayUnderTest.withoutDatabase`).
@Suite(.timeLimit(.minutes(1)))
struct GatewayValidationRouteTests {
    static let messages = "/v1/conversations/conv-1/messages"

    /// Asserts a problem+json answer of `status` and `kind`, with `field` (nil: none).
    static func expectProblem(
        _ response: TestResponse, _ status: HTTPResponse.Status, _ kind: String, field: String?, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(response.status == status, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        let problem = response.json
        #expect(problem?["type"] == .string(ProblemDetails.typeBase + kind), "\(response.text)", sourceLocation: sourceLocation)
        #expect(problem?["status"] == .number(Double(status.code)), sourceLocation: sourceLocation)
        #expect(problem?["title"]?.stringValue?.isEmpty == false, sourceLocation: sourceLocation)
        #expect(problem?["field"] == field.map(JSONValue.string), "\(response.text)", sourceLocation: sourceLocation)
    }

    @Test(arguments: [
        (#"{"customer_id":"c","text":"#, HTTPResponse.Status.badRequest, "invalid-json", String?.none),
        (#"[1,2]"#, .badRequest, "invalid-json", nil),
        (#"{"customer_id":"c","text":"x","role":"admin"}"#, .unprocessableContent, "unknown-field", "role"),
        (#"{"text":"x"}"#, .unprocessableContent, "invalid-field", "customer_id"),
        (#"{"customer_id":"bad id","text":"x"}"#, .unprocessableContent, "invalid-field", "customer_id"),
        (#"{"customer_id":"c","text":5}"#, .unprocessableContent, "invalid-field", "text"),
        (#"{"customer_id":"c","text":"  \n "}"#, .unprocessableContent, "empty-text", "text"),
        (#"{"customer_id":"c","text":"a\u0000b"}"#, .unprocessableContent, "invalid-field", "text"),
    ])
    func badMessageBodies(body: String, status: HTTPResponse.Status, kind: String, field: String?) async throws {
        try await GatewayUnderTest.withoutDatabase { client in
            Self.expectProblem(try await client.post(Self.messages, json: body), status, kind, field: field)
        }
    }

    @Test func textOverTheLimitIsUnprocessable() async throws {
        let body = #"{"customer_id":"c","text":""# + String(repeating: "é", count: GatewayAPI.maxTextCharacters + 1) + #""}"#
        try await GatewayUnderTest.withoutDatabase { client in
            Self.expectProblem(try await client.post(Self.messages, json: body), .unprocessableContent, "text-too-long", field: "text")
        }
    }

    @Test func aBodyOverSixteenKibibytesIsTooLarge() async throws {
        let body = #"{"customer_id":"c","text":""# + String(repeating: "a", count: GatewayAPI.maxBodyBytes) + #""}"#
        try await GatewayUnderTest.withoutDatabase { client in
            Self.expectProblem(try await client.post(Self.messages, json: body), .contentTooLarge, "body-too-large", field: nil)
        }
    }

    @Test func aBodyThatIsNotJSONIsAnUnsupportedMediaType() async throws {
        try await GatewayUnderTest.withoutDatabase { client in
            let response = try await client.post(Self.messages, json: "customer_id=c&text=x", headers: [.contentType: "application/x-www-form-urlencoded"])
            Self.expectProblem(response, .unsupportedMediaType, "unsupported-media-type", field: nil)
        }
    }

    @Test func invalidUTF8IsNamedAsSuch() async throws {
        try await GatewayUnderTest.withoutDatabase { client in
            let bytes = Array(#"{"customer_id":"c","text":""#.utf8) + [0xFF] + Array(#""}"#.utf8)
            let response = try await client.execute(uri: Self.messages, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: bytes))
            Self.expectProblem(response, .badRequest, "invalid-utf8", field: nil)
        }
    }

    @Test func badConversationIdWaitAndIdempotencyKeyNameTheirField() async throws {
        let body = #"{"customer_id":"c","text":"hi"}"#
        try await GatewayUnderTest.withoutDatabase { client in
            Self.expectProblem(try await client.post("/v1/conversations/bad!id/messages", json: body), .badRequest, "invalid-conversation-id", field: "id")
            Self.expectProblem(try await client.post(Self.messages + "?wait=31", json: body), .badRequest, "invalid-wait", field: "wait")
            Self.expectProblem(try await client.post(Self.messages + "?wait=soon", json: body), .badRequest, "invalid-wait", field: "wait")
            let key = HTTPField.Name("Idempotency-Key")!
            let response = try await client.post(Self.messages, json: body, headers: [.contentType: "application/json", key: "has space"])
            Self.expectProblem(response, .badRequest, "invalid-idempotency-key", field: "Idempotency-Key")
        }
    }

    /// Without the read model the conversation's owner cannot be checked: a valid message is
    /// refused with a 503 to retry, and nothing is appended (fail closed).
    @Test func withoutTheReadModelAValidMessageIsAServiceUnavailableToRetry() async throws {
        try await GatewayUnderTest.withoutDatabase { client in
            let response = try await client.post(Self.messages, json: #"{"customer_id":"c","text":"hi"}"#)
            Self.expectProblem(response, .serviceUnavailable, "read-model-unavailable", field: nil)
            #expect(response.headers[.retryAfter] == "1")
        }
    }

    @Test(arguments: [
        ("status=closed", "status"), ("owner=bot", "owner"), ("customer_id=bad%20id", "customer_id"),
        ("limit=0", "limit"), ("limit=201", "limit"), ("limit=ten", "limit"),
    ])
    func conversationListParameters(query: String, field: String) async throws {
        try await GatewayUnderTest.withoutDatabase { client in
            Self.expectProblem(try await client.get("/v1/conversations?" + query), .badRequest, "invalid-parameter", field: field)
        }
    }

    @Test(arguments: ["!!!", "no-dot", "soon.conv-1", "12.bad id", "-5.conv-1"])
    func conversationListCursorsThisAPIDidNotIssue(cursor: String) async throws {
        try await GatewayUnderTest.withoutDatabase { client in
            let escaped = cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            Self.expectProblem(try await client.get("/v1/conversations?cursor=" + escaped), .badRequest, "invalid-cursor", field: "cursor")
        }
    }

    @Test(arguments: [("period=week", "period"), ("group_by=customer", "group_by"), ("at=yesterday", "at")])
    func costSummaryParameters(query: String, field: String) async throws {
        try await GatewayUnderTest.withoutDatabase { client in
            Self.expectProblem(try await client.get("/v1/costs/summary?" + query), .badRequest, "invalid-parameter", field: field)
        }
    }

    @Test func conversationEventsParameters() async throws {
        try await GatewayUnderTest.withoutDatabase { client in
            Self.expectProblem(try await client.get("/v1/conversations/conv-1/events?after=-1"), .badRequest, "invalid-parameter", field: "after")
            Self.expectProblem(try await client.get("/v1/conversations/conv-1/events?limit=0"), .badRequest, "invalid-parameter", field: "limit")
            Self.expectProblem(try await client.get("/v1/conversations/bad!id/events"), .badRequest, "invalid-conversation-id", field: "id")
        }
    }

    @Test func anUnknownRouteIsAProblemToo() async throws {
        try await GatewayUnderTest.withoutDatabase { client in
            Self.expectProblem(try await client.get("/v1/nothing-here"), .notFound, "not-found", field: nil)
        }
    }
}
