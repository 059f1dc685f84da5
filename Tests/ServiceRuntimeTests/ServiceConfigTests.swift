import ServiceRuntime
import Testing

@Suite struct ServiceConfigTests {
    let env = [
        "SWITCHBOARD_BOOTSTRAP": "127.0.0.1:9092",
        "DATABASE_URL": "postgres://u@127.0.0.1:5432/db",
        "SWITCHBOARD_PLANNER_ADDR": "0.0.0.0:9001",
        "SWITCHBOARD_KAFKA_PROPERTIES": "security.protocol=SASL_SSL, sasl.mechanism=PLAIN",
    ]

    @Test func environmentIsRead() throws {
        let config = try CommonOptions.parse([]).resolve(service: "planner", defaultPort: 8081, environment: env)
        #expect(config.bootstrapServers == "127.0.0.1:9092")
        #expect(config.httpHost == "0.0.0.0" && config.httpPort == 9001)
        #expect(config.kafkaProperties == ["security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"])
        #expect(config.kafkaFetchWaitMaxMs == 5 && config.kafkaSessionTimeoutMs == 6000)
        #expect(config.knowledgeTopic == "switchboard.knowledge.v1")
        #expect(config.conversationsTopic == "switchboard.conversations.v1")
        #expect(!config.exitOnStdinEOF && !config.demoData, "dev-stack switches are off unless set")
        var devStack = env
        devStack["SWITCHBOARD_EXIT_ON_STDIN_EOF"] = "1"
        devStack["SWITCHBOARD_DEMO_DATA"] = "true"
        let child = try CommonOptions.parse([]).resolve(service: "planner", defaultPort: 8081, environment: devStack)
        #expect(child.exitOnStdinEOF && child.demoData)
        #expect(config.producerName.hasPrefix("planner@"))
    }

    @Test func flagsWinOverEnvironment() throws {
        let options = try CommonOptions.parse(["--bootstrap", "k:1", "--http", "127.0.0.1:7000"])
        let config = try options.resolve(service: "planner", defaultPort: 8081, environment: env)
        #expect(config.bootstrapServers == "k:1")
        #expect(config.httpPort == 7000)
    }

    @Test func defaultPortWhenUnset() throws {
        var env = self.env
        env["SWITCHBOARD_PLANNER_ADDR"] = nil
        #expect(try CommonOptions.parse([]).resolve(service: "planner", defaultPort: 8081, environment: env).httpPort == 8081)
    }

    @Test(arguments: [
        ("SWITCHBOARD_BOOTSTRAP", nil, "SWITCHBOARD_BOOTSTRAP"),
        ("DATABASE_URL", nil, "DATABASE_URL"),
        ("SWITCHBOARD_PLANNER_ADDR", "nope", "listen address"),
        ("SWITCHBOARD_KAFKA_FETCH_WAIT_MS", "-1", "FETCH_WAIT"),
        ("SWITCHBOARD_CONSUMER_CONCURRENCY", "0", "CONSUMER_CONCURRENCY"),
        ("SWITCHBOARD_LLM_MODEL", "only-half", "SWITCHBOARD_LLM_BASE_URL is required"),
        ("SWITCHBOARD_LLM_API_KEY_ENV", "KEY", "without SWITCHBOARD_LLM_BASE_URL"),
        ("SWITCHBOARD_DEMO_DATA", "yes", "SWITCHBOARD_DEMO_DATA"),
        ("SWITCHBOARD_EXIT_ON_STDIN_EOF", "yes", "SWITCHBOARD_EXIT_ON_STDIN_EOF"),
        ("SWITCHBOARD_LOG_LEVEL", "loud", "log level"),
        ("SWITCHBOARD_KAFKA_PROPERTIES", "novalue", "key=value"),
    ] as [(String, String?, String)])
    func badConfigurationIsNamed(variable: String, value: String?, mention: String) {
        var env = self.env
        env[variable] = value
        do {
            _ = try CommonOptions.parse([]).resolve(service: "planner", defaultPort: 8081, environment: env)
            Issue.record("accepted \(variable)=\(value ?? "<unset>")")
        } catch {
            #expect(String(describing: error).contains(mention), "\(error)")
        }
    }
}
