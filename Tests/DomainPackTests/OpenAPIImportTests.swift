import DomainPack
import Foundation
import JSON
import Testing
import ToolRuntime

/// An OpenAPI document named by a pack becomes tools: names, risk, schemas with `$ref`s
/// resolved, and HTTP bindings that put each argument where the operation expects it.
@Suite struct OpenAPIImportTests {
    static let shop30 = """
        openapi: 3.0.3
        info: { title: Shop, version: "1" }
        paths:
          /orders/{order_id}:
            parameters:
              - { name: order_id, in: path, required: true, schema: { type: string, pattern: "^[A-Z]{3}[0-9]{3}$" } }
            get:
              operationId: get_order
              summary: Look up an order
              parameters:
                - { name: expand, in: query, required: false, schema: { type: boolean } }
              responses:
                "200":
                  description: the order
                  content: { application/json: { schema: { $ref: "#/components/schemas/Order" } } }
          /orders/{order_id}/refunds:
            post:
              operationId: create_refund
              parameters:
                - { name: order_id, in: path, required: true, schema: { type: string } }
                - { name: notify, in: query, schema: { type: boolean } }
              requestBody:
                required: true
                content: { application/json: { schema: { $ref: "#/components/schemas/Refund" } } }
              responses:
                "201": { description: created }
          /health:
            get:
              responses: { "200": { description: "no operationId: no tool" } }
        components:
          schemas:
            Order:
              type: object
              properties: { order_id: { type: string }, total_cents: { type: integer } }
            Refund:
              type: object
              required: [amount_cents]
              properties:
                amount_cents: { type: integer, minimum: 1 }
                reason: { type: string }
              additionalProperties: false
        """

    /// The minimal pack plus an `openapi` source, written beside the document.
    func load(document: String, base: String = "https://shop.example/api/", extra: String = "") throws -> DomainPack {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("openapi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try document.write(to: directory.appendingPathComponent("shop.yaml"), atomically: true, encoding: .utf8)
        let pack = DomainPackTests.minimal + "\nopenapi:\n  - document: shop.yaml\n    base_url: \(base)\n    retries: { attempts: 2 }\n" + extra
        let path = directory.appendingPathComponent("pack.yaml").path
        try pack.write(toFile: path, atomically: true, encoding: .utf8)
        return try DomainPack.load(path: path)
    }

    @Test func everyOperationWithAnIdBecomesATool() throws {
        let pack = try load(document: Self.shop30)
        #expect(Set(pack.tools.keys) == ["t1", "get_order", "create_refund"])
        let get = try #require(pack.tools["get_order"])
        #expect(get.riskTier == .read && get.binding == "http" && get.description == "Look up an order")
        #expect(get.operations.retry.attempts == 2)
        #expect(get.operations.http == HTTPBinding(method: "GET", urlTemplate: "https://shop.example/api/orders/{order_id}", query: ["expand"], bodyArgument: nil))
        let refund = try #require(pack.tools["create_refund"])
        #expect(refund.riskTier == .highRiskWrite)
        #expect(refund.operations.http?.bodyArgument == "body" && refund.operations.http?.query == ["notify"])
    }

    @Test func inputSchemasValidateCallsWithReferencesResolved() throws {
        let pack = try load(document: Self.shop30)
        let get = try #require(pack.tools["get_order"]).inputSchema
        #expect(get.isValid(["order_id": "ABC123", "expand": true]))
        #expect(!get.isValid(["order_id": "abc"]), "the path parameter's pattern")
        #expect(!get.isValid([:]), "order_id is required")
        #expect(!get.isValid(["order_id": "ABC123", "other": 1]), "nothing else is accepted")
        let refund = try #require(pack.tools["create_refund"]).inputSchema
        #expect(refund.isValid(["order_id": "ABC123", "body": ["amount_cents": 500, "reason": "damaged"]]))
        #expect(!refund.isValid(["order_id": "ABC123", "body": ["amount_cents": 0]]), "minimum from the referenced Refund schema")
        #expect(!refund.isValid(["order_id": "ABC123"]), "the body is required")
        let output = try #require(pack.tools["get_order"]).outputSchema
        #expect(!output.isValid(["order_id": "ABC123", "total_cents": "lots"]), "the response schema, resolved")
    }

    @Test func aThreeOneDocumentLoadsToo() throws {
        let doc = Self.shop30.replacingOccurrences(of: "openapi: 3.0.3", with: "openapi: 3.1.0")
        let pack = try load(document: doc)
        #expect(pack.tools["get_order"]?.inputSchema.isValid(["order_id": "ABC123"]) == true)
    }

    @Test(arguments: [
        ("openapi: 3.0.3", "swagger: '2.0'", "not an OpenAPI 3.0 or 3.1 document"),
        ("operationId: get_order", "operationId: get-order", "not a tool name"),
        ("operationId: create_refund", "operationId: t1", "has the name of another tool"),
        ("content: { application/json: { schema: { $ref: \"#/components/schemas/Refund\" } } }", "content: { text/plain: { schema: { type: string } } }", "not JSON"),
    ])
    func brokenDocumentsNameTheMistake(original: String, replacement: String, mention: String) {
        let doc = Self.shop30.replacingOccurrences(of: original, with: replacement)
        #expect(doc != Self.shop30)
        do {
            _ = try load(document: doc)
            Issue.record("accepted: \(replacement)")
        } catch {
            #expect(String(describing: error).contains(mention), "\(error)")
        }
    }
}
