import JSON
import JSONSchema
import Testing

/// Error messages and locations on realistic tool contracts and LLM decisions.
@Suite("Validation errors on tool schemas")
struct ToolSchemaTests {
    static let getOrderStatus = try! JSONSchema(
        json: #"""
            {
              "type": "object",
              "required": ["order_id"],
              "properties": {
                "order_id": {"type": "string", "pattern": "^[A-Z0-9]{6}$"}
              },
              "additionalProperties": false
            }
            """#)

    private func errors(_ schema: JSONSchema, _ json: String) throws -> [ValidationError] {
        let result = schema.validate(try JSONValue.parse(json))
        #expect(result.isValid == result.errors.isEmpty)
        return result.errors
    }

    @Test func validArguments() throws {
        #expect(try errors(Self.getOrderStatus, #"{"order_id": "AB12CD"}"#).isEmpty)
        #expect(Self.getOrderStatus.isValid(["order_id": "ZZ9999"]))
    }

    @Test func missingRequiredProperty() throws {
        let found = try errors(Self.getOrderStatus, "{}")
        #expect(
            found == [
                ValidationError(
                    instanceLocation: "", keywordLocation: "/required",
                    message: "missing required property 'order_id'")
            ])
        #expect(found.first?.description == "(root): missing required property 'order_id' (at /required)")
    }

    @Test func patternMismatch() throws {
        let found = try errors(Self.getOrderStatus, #"{"order_id": "ab12"}"#)
        #expect(
            found == [
                ValidationError(
                    instanceLocation: "/order_id", keywordLocation: "/properties/order_id/pattern",
                    message: "string does not match pattern '^[A-Z0-9]{6}$'")
            ])
    }

    @Test func dollarMeansEndOfInputAsInECMAScript() throws {
        // ICU's "$" also matches before a final newline; the validator must not.
        #expect(!Self.getOrderStatus.isValid(["order_id": "AB12CD\n"]))
        #expect(!Self.getOrderStatus.isValid(["order_id": "AB12CD\r\n"]))
    }

    @Test func wrongTypeAndExtraPropertyAreBothReported() throws {
        let found = try errors(Self.getOrderStatus, #"{"order_id": 123456, "customer_note": "hi"}"#)
        #expect(
            found == [
                ValidationError(
                    instanceLocation: "/order_id", keywordLocation: "/properties/order_id/type",
                    message: "value must be of type string (got integer)"),
                ValidationError(
                    instanceLocation: "/customer_note", keywordLocation: "/additionalProperties",
                    message: "property 'customer_note' is not allowed"),
            ])
    }

    @Test func messagesNeverQuoteInstanceValues() throws {
        let found = try errors(Self.getOrderStatus, #"{"order_id": "secret-card-4111111111111111"}"#)
        #expect(found.count == 1)
        #expect(!found.contains { $0.message.contains("4111") || $0.description.contains("4111") })
    }

    static let plan = try! JSONSchema(
        json: #"""
            {
              "$defs": {
                "step": {
                  "type": "object",
                  "required": ["tool", "args"],
                  "properties": {
                    "tool": {"enum": ["get_order_status", "refund_order"]},
                    "args": {
                      "type": "object",
                      "required": ["order_id"],
                      "properties": {
                        "order_id": {"type": "string", "minLength": 6, "maxLength": 6},
                        "amount": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01}
                      }
                    }
                  }
                }
              },
              "type": "object",
              "required": ["intent", "confidence", "steps"],
              "properties": {
                "intent": {"type": "string"},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "steps": {"type": "array", "maxItems": 5, "items": {"$ref": "#/$defs/step"}}
              }
            }
            """#)

    @Test func errorsInsideReferencedDefinitions() throws {
        let found = try errors(
            Self.plan,
            #"""
            {"intent": "refund", "confidence": 1.5,
             "steps": [{"tool": "get_order_status", "args": {"order_id": "AB12CD"}},
                       {"tool": "delete_everything", "args": {"amount": 10.005}}]}
            """#)
        #expect(
            found == [
                ValidationError(
                    instanceLocation: "/confidence", keywordLocation: "/properties/confidence/maximum",
                    message: "number must be at most 1"),
                ValidationError(
                    instanceLocation: "/steps/1/args", keywordLocation: "/properties/steps/items/$ref/properties/args/required",
                    message: "missing required property 'order_id'"),
                ValidationError(
                    instanceLocation: "/steps/1/args/amount",
                    keywordLocation: "/properties/steps/items/$ref/properties/args/properties/amount/multipleOf",
                    message: "number must be a multiple of 0.01"),
                ValidationError(
                    instanceLocation: "/steps/1/tool", keywordLocation: "/properties/steps/items/$ref/properties/tool/enum",
                    message: #"value must be one of: "get_order_status", "refund_order""#),
            ])
    }

    @Test func lengthCountsCodePoints() throws {
        // Six code points, but seven UTF-16 units and more bytes.
        #expect(Self.plan.isValid(["intent": "x", "confidence": 0, "steps": [["tool": "refund_order", "args": ["order_id": "AB12C😀"]]]]))
        let found = try errors(
            Self.plan, #"{"intent": "x", "confidence": 0, "steps": [{"tool": "refund_order", "args": {"order_id": "ÅB12C"}}]}"#)
        #expect(found.map(\.message) == ["string must be at least 6 characters long (got 5)"])
    }

    @Test func multipleOfIsDecimalSafe() throws {
        let schema = try JSONSchema(["multipleOf": 0.01])
        for valid: JSONValue in [19.99, 0.07, 1e-2, 100, 0, -4.35, 123456789.01] {
            #expect(schema.isValid(valid), "\(valid)")
        }
        for invalid: JSONValue in [19.999, 0.001, 1e-9, 0.015] {
            #expect(!schema.isValid(invalid), "\(invalid)")
        }
        #expect(try JSONSchema(["multipleOf": 0.0001]).isValid(0.0075))
        #expect(try JSONSchema(["multipleOf": 0.1]).isValid(0.3))
        #expect(try !JSONSchema(["type": "integer", "multipleOf": 0.123456789]).isValid(1e308))
    }

    @Test func integerMeansZeroFraction() throws {
        let schema = try JSONSchema(["type": "integer"])
        #expect(schema.isValid(1.0))
        #expect(schema.isValid(-3))
        #expect(!schema.isValid(1.5))
        #expect(!schema.isValid(true))
        #expect(schema.validate("7").errors.map(\.message) == ["value must be of type integer (got string)"])
    }

    @Test func anyOfAndOneOfExplainTheirBranches() throws {
        let schema = try JSONSchema(
            json: #"""
                {"oneOf": [
                  {"type": "object", "required": ["reply"], "properties": {"reply": {"type": "string"}}},
                  {"type": "object", "required": ["handover"], "properties": {"handover": {"const": true}}}
                ]}
                """#)
        let none = schema.validate(["reply": 1])
        #expect(!none.isValid)
        #expect(
            none.errors == [
                ValidationError(
                    instanceLocation: "", keywordLocation: "/oneOf",
                    message: "value must match exactly one of the 2 schemas in 'oneOf' (matches none)"),
                ValidationError(
                    instanceLocation: "/reply", keywordLocation: "/oneOf/0/properties/reply/type",
                    message: "value must be of type string (got integer)"),
                ValidationError(
                    instanceLocation: "", keywordLocation: "/oneOf/1/required",
                    message: "missing required property 'handover'"),
            ])
        let both = schema.validate(["reply": "ok", "handover": true])
        #expect(
            both.errors == [
                ValidationError(
                    instanceLocation: "", keywordLocation: "/oneOf",
                    message: "value must match exactly one schema in 'oneOf' but matches more (schemas 0 and 1)")
            ])
        #expect(schema.isValid(["handover": true]))

        let anyOf = try JSONSchema(["anyOf": [["type": "string"], ["type": "number"]]])
        #expect(anyOf.validate(nil).errors.map(\.keywordLocation) == ["/anyOf", "/anyOf/0/type", "/anyOf/1/type"])
    }

    @Test func unevaluatedPropertiesAcrossComposition() throws {
        let schema = try JSONSchema(
            json: #"""
                {
                  "allOf": [{"properties": {"tool": {"type": "string"}}}],
                  "if": {"properties": {"tool": {"const": "refund_order"}}},
                  "then": {"properties": {"amount": {"type": "number"}}, "required": ["amount"]},
                  "unevaluatedProperties": false
                }
                """#)
        #expect(schema.isValid(["tool": "refund_order", "amount": 5]))
        #expect(schema.isValid(["tool": "get_order_status"]))
        let found = schema.validate(["tool": "get_order_status", "amount": 5])
        #expect(
            found.errors == [
                ValidationError(
                    instanceLocation: "/amount", keywordLocation: "/unevaluatedProperties",
                    message: "property 'amount' is not allowed")
            ])
        let missing = schema.validate(["tool": "refund_order"])
        #expect(missing.errors.map(\.keywordLocation) == ["/then/required"])
    }

    @Test func errorCapBoundsTheReport() throws {
        let schema = try JSONSchema(["items": ["type": "string"]])
        let instance = JSONValue.array(Array(repeating: 1, count: 1000))
        let result = schema.validate(instance, maxErrors: 10)
        #expect(!result.isValid)
        #expect(result.errors.count == 10)
        #expect(result.errors.first?.instanceLocation == "/0")
        #expect(schema.validate(instance).errors.count == 100)
    }

    @Test func forbiddenPropertyIsNamed() throws {
        let schema = try JSONSchema(["properties": ["debug": false, "id": ["type": "string"]]])
        #expect(schema.isValid(["id": "x"]))
        #expect(
            schema.validate(["debug": true]).errors == [
                ValidationError(
                    instanceLocation: "/debug", keywordLocation: "/properties/debug",
                    message: "property 'debug' is not allowed")
            ])
    }

    @Test func jsonPointerEscapingInLocations() throws {
        let schema = try JSONSchema(["properties": ["a/b~c": ["type": "string"]]])
        let result = schema.validate(["a/b~c": 1])
        #expect(result.errors.map(\.instanceLocation) == ["/a~1b~0c"])
        #expect(result.errors.map(\.keywordLocation) == ["/properties/a~1b~0c/type"])
    }
}
