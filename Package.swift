// swift-tools-version:6.1
import PackageDescription

// Build with `--explicit-target-dependency-import-check error` (the Makefile and scripts do):
// a module that imports what it does not declare — a service importing another — fails the build.

let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let lifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let hummingbird: Target.Dependency = .product(name: "Hummingbird", package: "hummingbird")
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let hummingbirdTesting: Target.Dependency = .product(name: "HummingbirdTesting", package: "hummingbird")
/// The tracing API (spans, context propagation); swift-otel exports the spans when configured.
let tracing: Target.Dependency = .product(name: "Tracing", package: "swift-distributed-tracing")

/// A service: `<Name>App` holds all logic (tested), `<Name>Main` is the thin executable.
func service(_ name: String, folder: String, extra: [Target.Dependency] = []) -> [Target] {
    [
        .target(
            name: "\(name)App",
            dependencies: ["ServiceHost", "ServiceRuntime", "EventBus", "EventContracts", "Events", "Kafka", "Postgres", "Projections", "JSON", "DomainPack", logging, tracing] + extra,
            path: "Services/\(folder)/App"
        ),
        .executableTarget(
            name: "\(name)Main",
            dependencies: [.target(name: "\(name)App"), "ServiceRuntime", argumentParser],
            path: "Services/\(folder)/Main"
        ),
    ]
}

let package = Package(
    name: "switchboard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "switchboard", targets: ["SwitchboardCLI"]),
        .executable(name: "switchboard-gateway", targets: ["GatewayMain"]),
        .executable(name: "switchboard-planner", targets: ["PlannerMain"]),
        .executable(name: "switchboard-executor", targets: ["ExecutorMain"]),
        .executable(name: "switchboard-verifier", targets: ["VerifierMain"]),
        .executable(name: "switchboard-hilqueue", targets: ["HILQueueMain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/mattpolzin/OpenAPIKit", from: "6.4.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // OTLP over HTTP only: the gRPC exporter would add grpc-swift to every build.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // C libraries, each owned by exactly one Swift module below.
        .systemLibrary(name: "CRdKafka", path: "Shared/CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CLibPQ", path: "Shared/CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCurlSystem", path: "Shared/CCurlSystem", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CCurl", dependencies: ["CCurlSystem"], path: "Shared/CCurl"),

        .target(name: "Kafka", dependencies: ["CRdKafka", logging], path: "Shared/Kafka"),
        .target(name: "Postgres", dependencies: ["CLibPQ", logging, tracing], path: "Shared/Postgres"),
        .target(name: "HTTPClient", dependencies: ["CCurl", logging, tracing], path: "Shared/HTTPClient"),
        .target(name: "JSON", path: "Shared/JSON"),
        .target(name: "JSONSchema", dependencies: ["JSON"], path: "Shared/JSONSchema"),
        // The business-rule expression language of domain packs: parser and evaluator, no I/O.
        .target(name: "RuleExpressions", dependencies: ["JSON"], path: "Shared/RuleExpressions"),
        // Retry, breaker, rate-limit and cache rules for tool calls: values, no I/O.
        .target(name: "ToolRuntime", dependencies: ["JSON"], path: "Shared/ToolRuntime"),
        // MCP servers over stdio or streamable HTTP (modelcontextprotocol/swift-sdk; HTTP over libcurl): tool discovery and calls.
        .target(
            name: "MCPBinding",
            dependencies: ["JSON", "ToolRuntime", "HTTPClient", logging, .product(name: "MCP", package: "swift-sdk"), .product(name: "SystemPackage", package: "swift-system")],
            path: "Shared/MCPBinding"
        ),
        // Tool bindings that leave the process (HTTP now; OpenAPI and MCP build on it).
        .target(name: "ToolBindings", dependencies: ["ToolRuntime", "HTTPClient", "JSON"], path: "Shared/ToolBindings"),

        // Topic names of the log: a leaf module, so configuration does not import the event model.
        .target(name: "LogTopics", path: "Shared/LogTopics"),
        .target(name: "Events", dependencies: ["JSON", "Privacy", .product(name: "Crypto", package: "swift-crypto")], path: "Shared/Events"),
        // Identity: tokens, API keys, scopes, rate limits (docs/SECURITY.md); no HTTP, no storage.
        .target(name: "Auth", dependencies: [.product(name: "Crypto", package: "swift-crypto")], path: "Shared/Auth"),
        // Per-customer keys in Postgres: sealing originals, crypto-shredding on erasure.
        .target(name: "CustomerKeys", dependencies: ["Privacy", "Postgres", logging], path: "Shared/CustomerKeys"),
        // Who may call the services' HTTP APIs: the gatekeeper, scoped routes, API key storage.
        .target(name: "AccessControl", dependencies: ["APIContract", "Auth", "ServiceRuntime", "Postgres", hummingbird, logging], path: "Shared/AccessControl"),
        // A service's published OpenAPI document and the request-body rules it implies.
        .target(name: "APIContract", dependencies: ["JSON", "JSONSchema", .product(name: "Yams", package: "Yams")], path: "Shared/APIContract"),
        // Personal data: detection and redaction, sealing under per-customer keys (docs/SECURITY.md).
        .target(name: "Privacy", dependencies: [.product(name: "Crypto", package: "swift-crypto")], path: "Shared/Privacy"),
        .target(name: "EventBus", dependencies: ["Events", "Kafka", logging, tracing, .product(name: "Metrics", package: "swift-metrics")], path: "Shared/EventBus"),
        // The published event schemas (docs/events, built in) every consumed event is checked against.
        .target(name: "EventContracts", dependencies: ["Events", "JSON", "JSONSchema"], path: "Shared/EventContracts"),
        .target(name: "Projections", dependencies: ["EventBus", "EventContracts", "Events", "Kafka", "Postgres", logging, tracing, .product(name: "Metrics", package: "swift-metrics")], path: "Shared/Projections"),
        .target(
            name: "DomainPack",
            dependencies: [
                "Events", "JSON", "JSONSchema", "MCPBinding", "Privacy", "RuleExpressions", "ToolRuntime", .product(name: "Yams", package: "Yams"), .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "OpenAPIKit", package: "OpenAPIKit"), .product(name: "OpenAPIKit30", package: "OpenAPIKit"), .product(name: "OpenAPIKitCompat", package: "OpenAPIKit"),
            ],
            path: "Shared/DomainPack"
        ),
        .target(
            name: "ServiceRuntime",
            dependencies: [
                "JSON", "LogTopics", "Privacy", hummingbird, lifecycle, logging, argumentParser,
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                tracing, .product(name: "OTel", package: "swift-otel"),
            ],
            path: "Shared/ServiceRuntime"
        ),
        .target(
            name: "ServiceHost",
            dependencies: ["ServiceRuntime", "EventBus", "Events", "Projections", "Kafka", "Postgres", hummingbird, lifecycle, logging, .product(name: "Metrics", package: "swift-metrics")],
            path: "Shared/ServiceHost"
        ),
        .target(name: "DevStack", dependencies: ["Auth", "HTTPClient", "JSON", logging], path: "Shared/DevStack"),
        .target(name: "ReadModels", dependencies: ["Projections", "Kafka", "EventBus", "Events", "Postgres", "JSON", "Knowledge"], path: "Shared/ReadModels"),
        .target(name: "ProjectionRebuild", dependencies: ["EventContracts", "LogTopics", "Projections", "ReadModels", "LogTools", "EventBus", "Events", "Kafka", "Postgres", logging], path: "Shared/ProjectionRebuild"),
        .target(name: "LogTools", dependencies: ["EventContracts", "EventBus", "Events", "Kafka", logging], path: "Shared/LogTools"),
        // The brains (issue 4): model providers over libcurl, routing, knowledge retrieval.
        .target(name: "Evaluation", dependencies: ["Events", "JSON", .product(name: "Yams", package: "Yams")], path: "Shared/Evaluation"),
        .target(name: "LLM", dependencies: ["HTTPClient", "JSON"], path: "Shared/LLM"),
        .target(name: "ModelRouter", dependencies: ["JSON", "ToolRuntime", .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto")], path: "Shared/ModelRouter"),
        .target(name: "Knowledge", dependencies: ["Postgres", "Events", "Privacy", "EventBus", "Projections", logging, .product(name: "Crypto", package: "swift-crypto")], path: "Shared/Knowledge"),
        // Test support: a local HTTP server speaking the OpenAI and Anthropic wire formats.
        .target(
            name: "LLMFixture",
            dependencies: ["JSON", hummingbird, logging, lifecycle, .product(name: "NIOCore", package: "swift-nio"), .product(name: "HTTPTypes", package: "swift-http-types")],
            path: "Shared/LLMFixture"
        ),
    ]
    + service("Gateway", folder: "Gateway", extra: ["ReadModels", "AccessControl", "APIContract", "Auth", "CustomerKeys", "Privacy", hummingbird, lifecycle, .product(name: "NIOCore", package: "swift-nio"), .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "Metrics", package: "swift-metrics")])
    + service("Planner", folder: "Planner", extra: ["ReadModels", "Privacy", "LLM", "ModelRouter", "Knowledge", "HTTPClient", "JSONSchema", "ToolRuntime", .product(name: "Metrics", package: "swift-metrics")])
    + service("Executor", folder: "Executor", extra: [.product(name: "Metrics", package: "swift-metrics"), "Privacy", "CustomerKeys", "ReadModels", "ToolRuntime", "ToolBindings", "HTTPClient", "MCPBinding", "Knowledge"])
    + service("Verifier", folder: "Verifier", extra: ["Privacy", "JSONSchema", "ReadModels", "RuleExpressions"])
    + service("HILQueue", folder: "HILQueue", extra: ["ReadModels", "AccessControl", "APIContract", "Auth", hummingbird, lifecycle, .product(name: "Metrics", package: "swift-metrics"), .product(name: "Yams", package: "Yams")])
    + [
        .executableTarget(
            name: "SwitchboardCLI",
            dependencies: ["AccessControl", "Auth", "DevStack", "DomainPack", "Evaluation", "EventBus", "Events", "HTTPClient", "JSON", "Kafka", "Knowledge", "LogTools", "LogTopics", "Postgres", "ProjectionRebuild", "ReadModels", "ServiceRuntime", "ToolBindings", "ToolRuntime", argumentParser, logging, .product(name: "UnixSignals", package: "swift-service-lifecycle")],
            path: "Services/CLI"
        ),

        // Test support: DATABASE_URL and scratch schemas/databases, for every test target that
        // needs Postgres. A regular target because test targets cannot depend on each other.
        .target(name: "DatabaseTestSupport", dependencies: ["Postgres", logging], path: "Tests/Support/DatabaseTestSupport"),
        // Test support: a scripted upstream HTTP API (faults on demand) for tool bindings.
        .target(name: "UpstreamFixture", dependencies: ["HTTPClient", "JSON"], path: "Tests/Support/UpstreamFixture", resources: [.copy("Resources/upstream.py")]),
        // Test support: read model groups in scratch schemas, filled by their real projections.
        .target(
            name: "ReadModelTestSupport",
            dependencies: ["DatabaseTestSupport", "ReadModels", "Projections", "EventBus", "Events", "JSON", "Postgres"],
            path: "Tests/Support/ReadModelTestSupport"
        ),

        .testTarget(name: "JSONTests", dependencies: ["JSON"], path: "Tests/JSONTests"),
        .testTarget(name: "JSONSchemaTests", dependencies: ["JSONSchema", "JSON"], path: "Tests/JSONSchemaTests", exclude: ["json-schema-test-suite"]),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka", logging], path: "Tests/KafkaTests"),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "DatabaseTestSupport", logging], path: "Tests/PostgresTests"),
        .testTarget(name: "HTTPClientTests", dependencies: ["HTTPClient", logging], path: "Tests/HTTPClientTests", resources: [.copy("Resources/http_test_server.py")]),
        .testTarget(name: "EventsTests", dependencies: ["EventContracts", "Events", "JSON", "JSONSchema", "Privacy"], path: "Tests/EventsTests"),
        .testTarget(name: "DomainPackTests", dependencies: ["DomainPack", "Events", "JSON", "MCPBinding", "Privacy", "ToolRuntime"], path: "Tests/DomainPackTests"),
        .testTarget(name: "PlannerTests", dependencies: ["PlannerApp", "DomainPack", "Events", "JSON", "JSONSchema", "LLMFixture", "ModelRouter", logging], path: "Tests/PlannerTests"),
        .testTarget(name: "ToolBindingsTests", dependencies: ["ToolBindings", "ToolRuntime", "HTTPClient", "JSON", "UpstreamFixture", logging], path: "Tests/ToolBindingsTests"),
        .testTarget(name: "MCPBindingTests", dependencies: ["MCPBinding", "HTTPClient", "JSON", "ToolRuntime", "UpstreamFixture", logging], path: "Tests/MCPBindingTests"),
        .testTarget(name: "RuleExpressionsTests", dependencies: ["RuleExpressions", "JSON"], path: "Tests/RuleExpressionsTests"),
        .testTarget(name: "ToolRuntimeTests", dependencies: ["ToolRuntime", "JSON"], path: "Tests/ToolRuntimeTests"),
        .testTarget(name: "PlannerStoreTests", dependencies: ["PlannerApp", "Events", "Postgres", "DatabaseTestSupport", logging], path: "Tests/PlannerStoreTests"),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Events", "JSON"], path: "Tests/EvaluationTests"),
        .testTarget(name: "SwitchboardCLITests", dependencies: ["SwitchboardCLI", "Events", "JSON", "Kafka", "LogTools"], path: "Tests/SwitchboardCLITests"),
        .testTarget(name: "LLMTests", dependencies: ["LLM", "LLMFixture", "HTTPClient", "JSON", logging], path: "Tests/LLMTests"),
        .testTarget(name: "ModelRouterTests", dependencies: ["ModelRouter", "JSON", "ToolRuntime"], path: "Tests/ModelRouterTests"),
        .testTarget(name: "KnowledgeTests", dependencies: ["Knowledge", "Postgres", "Events", "DatabaseTestSupport", logging], path: "Tests/KnowledgeTests", resources: [.copy("Fixtures")]),
        .testTarget(name: "ExecutorTests", dependencies: ["ExecutorApp", "CustomerKeys", "Privacy", "DomainPack", "Events", "JSON", "Knowledge", "Postgres", "DatabaseTestSupport", "UpstreamFixture", "ToolBindings", "ToolRuntime", "HTTPClient", logging], path: "Tests/ExecutorTests"),
        .testTarget(name: "VerifierTests", dependencies: ["VerifierApp", "DomainPack", "Events", "JSON", "ReadModels"], path: "Tests/VerifierTests"),
        .testTarget(name: "VerifierFlowTests", dependencies: ["VerifierApp", "DomainPack", "Events", "JSON", "Postgres", "ReadModels", "DatabaseTestSupport", "ReadModelTestSupport", logging], path: "Tests/VerifierFlowTests"),
        .testTarget(name: "LogToolsTests", dependencies: ["LogTools", "EventBus", "Events", "JSON", "Kafka", logging], path: "Tests/LogToolsTests"),
        .testTarget(name: "ProjectionsTests", dependencies: ["Projections", "EventBus", "Events", "JSON", "Kafka", "Postgres", "DatabaseTestSupport", logging], path: "Tests/ProjectionsTests"),
        .testTarget(name: "ServiceRuntimeTests", dependencies: ["ServiceRuntime", logging], path: "Tests/ServiceRuntimeTests"),
        .target(
            name: "AccessTestSupport",
            dependencies: ["AccessControl", "Auth", hummingbirdTesting, .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/Support/AccessTestSupport"
        ),
        .testTarget(name: "AuthTests", dependencies: ["Auth", .product(name: "Crypto", package: "swift-crypto")], path: "Tests/AuthTests"),
        .testTarget(name: "PrivacyTests", dependencies: ["Privacy"], path: "Tests/PrivacyTests"),
        .testTarget(
            name: "ReadModelsTests",
            dependencies: ["ReadModels", "Events", "Postgres", "DatabaseTestSupport", "ReadModelTestSupport"],
            path: "Tests/ReadModelsTests"
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "GatewayApp", "ReadModels", "Events", "JSON", "Postgres", "ServiceRuntime", "DatabaseTestSupport", "ReadModelTestSupport", "AccessTestSupport", "AccessControl", "APIContract", "Auth", "CustomerKeys", "Privacy",
                hummingbird, hummingbirdTesting, logging, .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/GatewayTests"
        ),
        .testTarget(
            name: "HILQueueTests",
            dependencies: [
                "HILQueueApp", "ReadModels", "Events", "JSON", "Postgres", "ServiceRuntime", "DatabaseTestSupport", "ReadModelTestSupport", "AccessTestSupport", "AccessControl", "APIContract", "Auth",
                hummingbird, hummingbirdTesting, logging, .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/HILQueueTests"
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["Auth", "DevStack", "EventBus", "Events", "HTTPClient", "JSON", "JSONSchema", "Kafka", "LogTopics", "Postgres", "Privacy", "LLMFixture", "UpstreamFixture", "DatabaseTestSupport", logging,
                hummingbird, lifecycle, .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/EndToEndTests"
        ),
    ]
)
