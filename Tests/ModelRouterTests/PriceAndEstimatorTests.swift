import JSON
import ModelRouter
import Testing

@Suite struct PriceTests {
    @Test func fractionalPriceIsExactAndRoundsHalfUp() throws {
        let price = try #require(ModelPrice(inputPerMillionUSD: "0.15", outputPerMillionUSD: "0.6"))
        #expect(price.inputPicosPerToken == 150_000)
        // 1234 tokens × $0.15/M = 185.1 µ$ → 185.
        #expect(price.costPicos(inputTokens: 1234, outputTokens: 0) == 185_100_000)
        #expect(price.costMicros(inputTokens: 1234, outputTokens: 0) == 185)
        // 1234 × 0.15 + 100 × 0.6 = 185.1 + 60 = 245.1 → 245.
        #expect(price.costMicros(inputTokens: 1234, outputTokens: 100) == 245)
        // 10 × 0.15 = 1.5 → 2 (half up); 9 × 0.15 = 1.35 → 1.
        #expect(price.costMicros(inputTokens: 10, outputTokens: 0) == 2)
        #expect(price.costMicros(inputTokens: 9, outputTokens: 0) == 1)
    }

    @Test func roundsOncePerCallNotPerPart() throws {
        // 0.4 µ$ input + 0.4 µ$ output = 0.8 → 1 (rounding each part would give 0).
        let price = try #require(ModelPrice(inputPerMillionUSD: "0.4", outputPerMillionUSD: "0.4"))
        #expect(price.costMicros(inputTokens: 1, outputTokens: 1) == 1)
        let half = try #require(ModelPrice(inputPerMillionUSD: "0.5", outputPerMillionUSD: "0.499999"))
        #expect(half.costMicros(inputTokens: 1, outputTokens: 0) == 1)
        #expect(half.costMicros(inputTokens: 0, outputTokens: 1) == 0)
    }

    @Test func decimalTextForms() throws {
        #expect(ModelPrice(inputPerMillionUSD: "3", outputPerMillionUSD: "15")?.outputPicosPerToken == 15_000_000)
        #expect(ModelPrice(inputPerMillionUSD: ".5", outputPerMillionUSD: "2.")?.inputPicosPerToken == 500_000)
        #expect(ModelPrice(inputPerMillionUSD: "0.000001", outputPerMillionUSD: "0")?.inputPicosPerToken == 1)
        #expect(ModelPrice(inputPerMillionUSD: "1.50000000", outputPerMillionUSD: "0")?.inputPicosPerToken == 1_500_000)
        #expect(ModelPrice(inputPerMillionUSD: "0.0000001", outputPerMillionUSD: "0") == nil)
        #expect(ModelPrice(inputPerMillionUSD: "1e-3", outputPerMillionUSD: "0") == nil)
        #expect(ModelPrice(inputPerMillionUSD: "-1", outputPerMillionUSD: "0") == nil)
        #expect(ModelPrice(inputPerMillionUSD: ".", outputPerMillionUSD: "0") == nil)
        #expect(ModelPrice(inputPerMillionUSD: "2000000", outputPerMillionUSD: "0") == nil)
    }

    @Test func freeAndSaturating() {
        #expect(ModelPrice.free.costMicros(inputTokens: 1_000_000, outputTokens: 1_000_000) == 0)
        let max = ModelPrice(inputPicosPerToken: ModelPrice.maxPicosPerToken, outputPicosPerToken: ModelPrice.maxPicosPerToken)
        #expect(max.costPicos(inputTokens: .max, outputTokens: 1) == .max)
        #expect(max.costMicros(inputTokens: .max, outputTokens: 1) == Int64.max / 1_000_000 + 1)
        #expect(max.costMicros(inputTokens: -5, outputTokens: 0) == 0)
    }
}

@Suite struct TokenEstimatorTests {
    let estimator = TokenEstimator()

    @Test func textIsCeilOfBytesOverFour() {
        #expect(estimator.estimate(text: "") == 0)
        #expect(estimator.estimate(text: "abcd") == 1)
        #expect(estimator.estimate(text: "abcde") == 2)
        #expect(estimator.estimate(text: "é") == 1)  // 2 UTF-8 bytes
        #expect(estimator.estimate(text: String(repeating: "x", count: 400)) == 100)
    }

    @Test func messagesAddOverheads() {
        // 3 request + (4 + ceil(11 / 4)) + (4 + ceil(2 / 4))
        #expect(estimator.estimate(messageTexts: ["hello world", "hi"]) == 15)
        let messages: [JSONValue] = [
            ["role": "user", "content": "hello world"],  // "user" + "hello world" = 15 bytes → 4
            ["role": "assistant", "content": [["type": "text", "text": "hi"]]],  // 9 + 4 + 2 = 15 → 4
        ]
        #expect(estimator.estimate(messages: messages) == 3 + (4 + 4) + (4 + 4))
    }

    @Test func toolSchemasCountAsCompactJSON() {
        let tool: JSONValue = ["name": "lookup", "parameters": ["type": "object"]]
        let bytes = tool.serialized().count
        let withTool = estimator.estimate(messageTexts: ["q"], tools: [tool])
        #expect(withTool == estimator.estimate(messageTexts: ["q"]) + (bytes + 3) / 4)
        let format: JSONValue = ["type": "json_schema"]
        #expect(estimator.estimate(messageTexts: ["q"], responseFormat: format) > estimator.estimate(messageTexts: ["q"]))
        // Deterministic regardless of dictionary order.
        #expect(estimator.estimate(messages: [["b": "1", "a": "2"]]) == estimator.estimate(messages: [["a": "2", "b": "1"]]))
    }
}
