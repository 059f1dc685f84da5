import JSON
import Testing

@Suite struct JSONKeyOrderTests {
    @Test func schemaPropertiesFollowRequired() throws {
        let schema: JSONValue = [
            "type": "object", "required": ["intent", "confidence", "explain"],
            "properties": [
                "explain": ["type": "string"], "confidence": ["type": "integer"], "intent": ["enum": ["a", "b"]], "zeta": ["type": "string"],
                "steps": ["type": "array", "items": ["type": "object", "required": ["tool", "args"], "properties": ["args": ["type": "object"], "tool": ["type": "string"]]]],
            ],
        ]
        let text = schema.serializedString(keyOrder: .schema)
        #expect(text == #"{"properties":{"intent":{"enum":["a","b"]},"confidence":{"type":"integer"},"explain":{"type":"string"},"steps":{"items":{"properties":{"tool":{"type":"string"},"args":{"type":"object"}},"required":["tool","args"],"type":"object"},"type":"array"},"zeta":{"type":"string"}},"required":["intent","confidence","explain"],"type":"object"}"#)
        #expect(try JSONValue.parse(text) == schema, "only the order changes")
    }

    @Test func rankedKeysFirstThenTheRestSorted() {
        let value: JSONValue = ["b": 1, "explain": "x", "intent": "i", "steps": [["why": "w", "tool": "t", "args": [:]]]]
        #expect(value.serializedString(keyOrder: .ranked(["intent", "steps", "tool", "args", "why", "explain"])) == #"{"intent":"i","steps":[{"tool":"t","args":{},"why":"w"}],"explain":"x","b":1}"#)
    }
}
