import DevStack
import Testing

/// What `make up` passes from its own environment to the services.
@Suite struct ForwardedEnvironmentTests {
    @Test func modelSettingsAndTheKeysTheyNamePassSecretsSeparately() {
        let forwarded = DevStack.forwardedEnvironment(from: [
            "SWITCHBOARD_LLM_BASE_URL": "http://127.0.0.1:11434/v1", "SWITCHBOARD_LLM_MODEL": "llama3.1",
            "SWITCHBOARD_LLM_API_KEY_ENV": "GROQ_API_KEY", "GROQ_API_KEY": "gsk-1",
            "SWITCHBOARD_FORWARD_ENV": "ANTHROPIC_API_KEY, MISSING_KEY", "ANTHROPIC_API_KEY": "sk-ant-2",
            "SWITCHBOARD_MODEL_CATALOG": "", "HOME": "/root", "OPENAI_API_KEY": "sk-not-named",
        ])
        #expect(forwarded.settings == [
            "SWITCHBOARD_LLM_BASE_URL": "http://127.0.0.1:11434/v1", "SWITCHBOARD_LLM_MODEL": "llama3.1", "SWITCHBOARD_LLM_API_KEY_ENV": "GROQ_API_KEY",
        ])
        #expect(forwarded.secrets == ["GROQ_API_KEY": "gsk-1", "ANTHROPIC_API_KEY": "sk-ant-2"])
    }

    @Test func openTelemetrySettingsPassAndTheirHeadersStayOutOfTheEnvFile() {
        let forwarded = DevStack.forwardedEnvironment(from: [
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer collector-token", "OTEL_SDK_DISABLED": "",
        ])
        #expect(forwarded.settings == ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio"])
        #expect(forwarded.secrets == ["OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer collector-token"])
    }
}
