import DomainPack
import Foundation
import Testing
import ToolRuntime

/// The operations fields of a tool contract: parsed, defaulted, and refused with the path.
@Suite struct ToolOperationsTests {
    static func pack(_ tool: String) -> String {
        DomainPackTests.minimal.replacingOccurrences(of: """
              t1:
                description: d
                risk_tier: read
                binding: native
            """, with: tool)
    }

    @Test func anHTTPToolWithEveryField() throws {
        let yaml = Self.pack("""
              t1:
                description: d
                risk_tier: read
                binding: http
                retries: { attempts: 3, base_delay_ms: 50, max_delay_ms: 500 }
                rate_limit: { per_second: 5, burst: 10 }
                cache_ttl_ms: 30000
                circuit_breaker: { failures: 4, cool_down_ms: 10000 }
                auth_scope: orders:read
                http:
                  method: get
                  url: https://shop.example/api/orders/{order_id}
                  headers: { X-Shop: demo }
                  auth: { secret_env: SHOP_API_TOKEN }
            """)
        let operations = try #require(try DomainPack.parse(yaml: yaml).tools["t1"]).operations
        #expect(operations.retry == RetryPolicy(attempts: 3, baseDelay: .milliseconds(50), maxDelay: .milliseconds(500)))
        #expect(operations.rateLimit == .init(perSecond: 5, burst: 10))
        #expect(operations.cacheTTL == .seconds(30))
        #expect(operations.circuitBreaker == BreakerConfig(failureThreshold: 4, coolDown: .seconds(10)))
        #expect(operations.authScope == "orders:read")
        #expect(operations.http == HTTPBinding(
            method: "GET", urlTemplate: "https://shop.example/api/orders/{order_id}", headers: ["X-Shop": "demo"],
            auth: .init(header: "Authorization", scheme: "Bearer", secretEnv: "SHOP_API_TOKEN")))
    }

    @Test func aNativeToolGetsSafeDefaults() throws {
        let operations = try #require(try DomainPack.parse(yaml: DomainPackTests.minimal).tools["t1"]).operations
        #expect(operations == ToolOperations())
        #expect(operations.retry == .none)
    }

    @Test(arguments: [
        ("risk_tier: write\n    binding: native\n    cache_ttl_ms: 1000", "only read-only tools may be cached"),
        ("risk_tier: read\n    binding: http", "required for binding: http"),
        ("risk_tier: read\n    binding: native\n    http: { method: GET, url: 'https://x' }", "only for binding: http"),
        ("risk_tier: read\n    binding: http\n    http: { method: TRACE, url: 'https://x' }", "must be GET, POST"),
        ("risk_tier: read\n    binding: http\n    http: { method: GET, url: 'ftp://x' }", "http(s) URL"),
        ("risk_tier: read\n    binding: grpc", "unknown binding"),
        ("risk_tier: read\n    binding: native\n    retries: { attempts: 0 }", "retries.attempts"),
    ])
    func brokenOperationsNameTheMistake(fields: String, mention: String) {
        let yaml = Self.pack("  t1:\n    description: d\n    " + fields)
        do {
            _ = try DomainPack.parse(yaml: yaml)
            Issue.record("accepted: \(fields)")
        } catch {
            #expect(String(describing: error).contains(mention), "\(error)")
        }
    }
}

@Suite struct FormatAssertionPackTests {
    static func pack(flag: String) -> String {
        DomainPackTests.minimal.replacingOccurrences(
            of: "    input_schema: { type: object }",
            with: "    \(flag)\n    input_schema: { type: object, properties: { email: { type: string, format: email } } }")
    }

    @Test func aContractWithFormatAssertionChecksFormats() throws {
        let asserting = try #require(try DomainPack.parse(yaml: Self.pack(flag: "format_assertion: true")).tools["t1"])
        #expect(asserting.formatAssertion)
        #expect(!asserting.inputSchema.isValid(["email": "not an address"]))
        #expect(asserting.inputSchema.isValid(["email": "joe@example.com"]))
        let annotating = try #require(try DomainPack.parse(yaml: Self.pack(flag: "format_assertion: false")).tools["t1"])
        #expect(annotating.inputSchema.isValid(["email": "not an address"]))
    }

    @Test func aNonBooleanFlagIsALoadError() {
        #expect(throws: (any Error).self) { try DomainPack.parse(yaml: Self.pack(flag: "format_assertion: yes please")) }
        do {
            _ = try DomainPack.parse(yaml: Self.pack(flag: "format_assertion: \"yes\""))
            Issue.record("accepted a string flag")
        } catch {
            #expect(String(describing: error).contains("format_assertion"), "\(error)")
        }
    }
}
