public import JSON

/// A cheap, deterministic token ESTIMATE for routing and budgeting (not a tokenizer).
///
/// English text averages about four UTF-8 bytes per token for BPE tokenizers, so a text counts
/// `ceil(utf8 bytes / 4)`. Each message adds a fixed overhead for its role and framing, each
/// request a small priming overhead, and tool schemas / a response format count as their
/// compact JSON text. Real counts differ by model (often by ±30%, more for code or non-Latin
/// scripts); the estimate only has to rank context windows and prices sensibly.
public struct TokenEstimator: Sendable, Hashable {
    public var bytesPerToken: Int
    public var perMessageOverhead: Int
    public var perRequestOverhead: Int

    public init(bytesPerToken: Int = 4, perMessageOverhead: Int = 4, perRequestOverhead: Int = 3) {
        precondition(bytesPerToken > 0 && perMessageOverhead >= 0 && perRequestOverhead >= 0)
        self.bytesPerToken = bytesPerToken
        self.perMessageOverhead = perMessageOverhead
        self.perRequestOverhead = perRequestOverhead
    }

    /// Tokens for one text.
    public func estimate(text: String) -> Int {
        tokens(bytes: text.utf8.count)
    }

    /// Tokens for a request given each message's text (all of its content parts joined).
    public func estimate(messageTexts: [String], tools: [JSONValue] = [], responseFormat: JSONValue? = nil) -> Int {
        var total = perRequestOverhead
        for text in messageTexts { total += perMessageOverhead + estimate(text: text) }
        return total + schemaTokens(tools: tools, responseFormat: responseFormat)
    }

    /// Tokens for a request given messages in any JSON chat shape (OpenAI or Anthropic):
    /// every string inside a message counts (role, content parts, tool-call arguments), keys
    /// and punctuation do not.
    public func estimate(messages: [JSONValue], tools: [JSONValue] = [], responseFormat: JSONValue? = nil) -> Int {
        var total = perRequestOverhead
        for message in messages { total += perMessageOverhead + tokens(bytes: Self.stringBytes(in: message)) }
        return total + schemaTokens(tools: tools, responseFormat: responseFormat)
    }

    private func schemaTokens(tools: [JSONValue], responseFormat: JSONValue?) -> Int {
        var total = 0
        for tool in tools { total += tokens(bytes: tool.serialized(sortedKeys: true).count) }
        if let responseFormat { total += tokens(bytes: responseFormat.serialized(sortedKeys: true).count) }
        return total
    }

    private func tokens(bytes: Int) -> Int {
        (bytes + bytesPerToken - 1) / bytesPerToken
    }

    private static func stringBytes(in value: JSONValue) -> Int {
        switch value {
        case .string(let text): return text.utf8.count
        case .array(let items): return items.reduce(0) { $0 + stringBytes(in: $1) }
        case .object(let members): return members.values.reduce(0) { $0 + stringBytes(in: $1) }
        case .null, .bool, .number: return 0
        }
    }
}
