import JSON
import JSONSchema
import Testing

/// Compilation errors, references and the keywords whose upstream suite files are not in the
/// shared subset (dynamic references, unevaluated*, contains, dependentSchemas, anchors).
@Suite("Schema compilation and references")
struct SchemaFeatureTests {
    private func compileError(_ schema: JSONValue) -> SchemaError? {
        do {
            _ = try JSONSchema(schema)
            return nil
        } catch {
            return error
        }
    }

    @Test func invalidSchemasFailAtCompileTime() throws {
        let unresolved = try #require(compileError(["properties": ["a": ["$ref": "#/$defs/missing"]]]))
        #expect(unresolved.code == .unresolvedReference)
        #expect(unresolved.schemaLocation == "/properties/a/$ref")
        #expect(compileError(["$ref": "#nowhere"])?.code == .unresolvedReference)
        #expect(compileError(["$ref": "https://example.com/remote.json"])?.code == .unresolvedReference)
        #expect(compileError(["pattern": "(unclosed"])?.code == .invalidPattern)
        #expect(compileError(["patternProperties": ["[a-": true]])?.code == .invalidPattern)
        #expect(compileError(["minLength": -1])?.code == .invalidKeywordValue)
        #expect(compileError(["maxItems": 1.5])?.code == .invalidKeywordValue)
        #expect(compileError(["type": "text"])?.code == .invalidKeywordValue)
        #expect(compileError(["multipleOf": 0])?.code == .invalidKeywordValue)
        #expect(compileError(["required": "id"])?.code == .invalidKeywordValue)
        #expect(compileError(["items": [["type": "string"]]])?.code == .invalidKeywordValue)
        #expect(compileError(["allOf": []])?.code == .invalidKeywordValue)
        #expect(compileError(["properties": ["a": 5]])?.code == .invalidSchema)
        #expect(compileError(["$defs": ["unused": ["minimum": "zero"]]])?.code == .invalidKeywordValue)
        #expect(compileError(["$anchor": "1bad"])?.code == .invalidKeywordValue)
        #expect(compileError(["$id": "https://x.example/a#frag"])?.code == .invalidKeywordValue)
        #expect(
            compileError(["$defs": ["a": ["$id": "https://x.example/s"], "b": ["$id": "https://x.example/s"]]])?.code
                == .duplicateIdentifier)
        #expect(compileError(42)?.code == .invalidSchema)
        #expect(throws: SchemaError.self) { try JSONSchema(json: "{\"type\": ") }
        let error = try #require(throws: SchemaError.self) { try JSONSchema(json: "[1,]") }
        #expect(error.code == .invalidJSON)
    }

    @Test func booleanSchemas() throws {
        #expect(try JSONSchema(true).isValid(["anything": [1]]))
        let never = try JSONSchema(false)
        #expect(!never.isValid(nil))
        #expect(never.validate(1).errors.map(\.message) == ["no value is allowed here (the schema is 'false')"])
    }

    @Test func idAnchorAndPointerReferences() throws {
        let schema = try JSONSchema(
            json: #"""
                {
                  "$id": "https://switchboard.example/schemas/order.json",
                  "type": "object",
                  "properties": {
                    "id": {"$ref": "#orderId"},
                    "line": {"$ref": "lines.json#/$defs/line"},
                    "odd~name": {"$ref": "#/$defs/a~1b%25c"}
                  },
                  "$defs": {
                    "id": {"$anchor": "orderId", "type": "string", "pattern": "^[A-Z0-9]{6}$"},
                    "a/b%c": {"type": "integer"},
                    "lines": {
                      "$id": "lines.json",
                      "$defs": {"line": {"type": "object", "properties": {"sku": {"$ref": "#/$defs/sku"}}}, "sku": {"type": "string"}}
                    }
                  }
                }
                """#)
        #expect(schema.isValid(["id": "AB12CD", "line": ["sku": "X1"], "odd~name": 3]))
        #expect(!schema.isValid(["id": "nope"]))
        #expect(!schema.isValid(["line": ["sku": 1]]))
        #expect(!schema.isValid(["odd~name": "3"]))
        #expect(
            schema.validate(["line": ["sku": 1]]).errors.map(\.keywordLocation) == [
                "/properties/line/$ref/properties/sku/$ref/type"
            ])
    }

    @Test func extraResourcesAndMetaSchema() throws {
        let shared: JSONValue = [
            "$defs": ["money": ["type": "object", "required": ["amount", "currency"]]]
        ]
        let schema = try JSONSchema(
            ["properties": ["total": ["$ref": "https://switchboard.example/common.json#/$defs/money"]]],
            resources: ["https://switchboard.example/common.json": shared])
        #expect(schema.isValid(["total": ["amount": 1, "currency": "EUR"]]))
        #expect(!schema.isValid(["total": ["amount": 1]]))

        // The bundled 2020-12 meta-schema checks that a value is itself a schema.
        let metaSchema = try JSONSchema(["$ref": "https://json-schema.org/draft/2020-12/schema"])
        #expect(metaSchema.isValid(try JSONValue.parse(#"{"type": "object", "properties": {"a": {"minLength": 1}}}"#)))
        #expect(!metaSchema.isValid(["type": "object", "properties": ["a": ["minLength": -1]]]))
        #expect(!metaSchema.isValid(["$defs": ["x": ["type": 5]]]))
    }

    @Test func dynamicReferencesFollowTheDynamicScope() throws {
        // A generic "list of T" whose item type is chosen by the referring schema.
        let schema = try JSONSchema(
            json: #"""
                {
                  "$id": "https://switchboard.example/string-list",
                  "$ref": "list",
                  "$defs": {
                    "item": {"$dynamicAnchor": "item", "type": "string"},
                    "list": {
                      "$id": "list",
                      "type": "array",
                      "items": {"$dynamicRef": "#item"},
                      "$defs": {"item": {"$dynamicAnchor": "item"}}
                    }
                  }
                }
                """#)
        #expect(schema.isValid(["a", "b"]))
        #expect(!schema.isValid(["a", 1]))
        #expect(schema.validate(["a", 1]).errors.map(\.keywordLocation) == ["/$ref/items/$dynamicRef/type"])
    }

    @Test func unevaluatedItemsSeesPrefixItemsAndContains() throws {
        let schema = try JSONSchema(
            json: #"""
                {"prefixItems": [{"type": "string"}],
                 "allOf": [{"contains": {"type": "number"}}],
                 "unevaluatedItems": false}
                """#)
        #expect(schema.isValid(["a", 1, 2]))
        #expect(!schema.isValid(["a", 1, true]))
        #expect(schema.validate(["a", 1, true]).errors.map(\.instanceLocation) == ["/2"])
    }

    @Test func containsWithBounds() throws {
        let schema = try JSONSchema(["contains": ["const": "x"], "minContains": 2, "maxContains": 3])
        #expect(!schema.isValid(["x"]))
        #expect(schema.isValid(["x", "y", "x"]))
        #expect(!schema.isValid(["x", "x", "x", "x"]))
        #expect(schema.validate(["x"]).errors.map(\.keywordLocation) == ["/minContains"])
        #expect(schema.validate(["x", "x", "x", "x"]).errors.map(\.keywordLocation) == ["/maxContains"])
        #expect(try JSONSchema(["contains": false, "minContains": 0]).isValid([1]))
    }

    @Test func dependentKeywords() throws {
        let schema = try JSONSchema(
            json: #"""
                {"dependentRequired": {"refund": ["reason"]},
                 "dependentSchemas": {"amount": {"properties": {"currency": {"enum": ["EUR", "USD"]}}, "required": ["currency"]}}}
                """#)
        #expect(schema.isValid(["refund": true, "reason": "late"]))
        #expect(
            schema.validate(["refund": true]).errors.map(\.message) == [
                "missing property 'reason', required when 'refund' is present"
            ])
        #expect(schema.validate(["amount": 1]).errors.map(\.keywordLocation) == ["/dependentSchemas/amount/required"])
        #expect(!schema.isValid(["amount": 1, "currency": "GBP"]))
        // draft-07 "dependencies", common in MCP tool schemas, is honoured too.
        let legacy = try JSONSchema(["dependencies": ["a": ["b"], "c": ["required": ["d"]]]])
        #expect(!legacy.isValid(["a": 1]))
        #expect(!legacy.isValid(["c": 1]))
        #expect(legacy.isValid(["a": 1, "b": 2, "c": 3, "d": 4]))
    }

    @Test func propertyNamesAndPatternProperties() throws {
        let schema = try JSONSchema(
            ["propertyNames": ["pattern": "^[a-z_]+$"], "patternProperties": ["^x_": ["type": "integer"]]])
        #expect(schema.isValid(["x_count": 3, "name": "n"]))
        let result = schema.validate(["Bad": 1, "x_count": "3"])
        #expect(
            result.errors == [
                ValidationError(
                    instanceLocation: "/x_count", keywordLocation: "/patternProperties/^x_/type",
                    message: "value must be of type integer (got string)"),
                ValidationError(
                    instanceLocation: "/Bad", keywordLocation: "/propertyNames",
                    message: "property name 'Bad' is not allowed by 'propertyNames'"),
                ValidationError(
                    instanceLocation: "/Bad", keywordLocation: "/propertyNames/pattern",
                    message: "string does not match pattern '^[a-z_]+$'"),
            ])
    }

    @Test func ecmaScriptRegexSemantics() throws {
        #expect(try !JSONSchema(["pattern": "^\\d+$"]).isValid("١٢٣"), "\\d is ASCII-only")
        #expect(try JSONSchema(["pattern": "^\\d+$"]).isValid("123"))
        #expect(try !JSONSchema(["pattern": "^\\w+$"]).isValid("héllo"), "\\w is ASCII-only")
        #expect(try JSONSchema(["pattern": "^[\\w-]+$"]).isValid("a-b_c"))
        #expect(try JSONSchema(["pattern": "^[^\\d]+$"]).isValid("abc"))
        #expect(try JSONSchema(["pattern": "[[]"]).isValid("a[b"), "'[' inside a class is a literal")
        #expect(try JSONSchema(["pattern": "^\\p{L}+$"]).isValid("héllo"))
        #expect(try JSONSchema(["pattern": "^.$"]).isValid("😀"), "patterns see code points")
        #expect(try JSONSchema(["pattern": "ab"]).isValid("xxabxx"), "patterns are not anchored")
    }

    @Test func selfReferenceWithoutProgressIsReportedNotFatal() throws {
        let schema = try JSONSchema(
            ["$defs": ["a": ["$ref": "#/$defs/b"], "b": ["$ref": "#/$defs/a"]], "$ref": "#/$defs/a"])
        let result = schema.validate(1)
        #expect(!result.isValid)
        #expect(result.errors.first?.message.contains("infinite recursion") == true)
    }

    @Test func deepInstanceAgainstRecursiveSchema() throws {
        let schema = try JSONSchema(["$defs": ["node": ["type": "array", "items": ["$ref": "#/$defs/node"]]], "$ref": "#/$defs/node"])
        // 200 levels validates fully...
        var value: JSONValue = []
        for _ in 0..<200 { value = [value] }
        #expect(schema.isValid(value))
        #expect(schema.validate(value).isValid)
        // ...and a value built in code far deeper than the parser allows fails cleanly.
        var deep: JSONValue = []
        for _ in 0..<5000 { deep = [deep] }
        let result = schema.validate(deep)
        #expect(!result.isValid)
        #expect(result.errors.first?.message.contains("nested deeper") == true)
    }

    @Test func validatorIsSharedAcrossTasks() async throws {
        let schema = ToolSchemaTests.getOrderStatus
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<64 {
                group.addTask {
                    let id = index.isMultiple(of: 2) ? "AB12CD" : "bad"
                    return schema.validate(["order_id": .string(id)]).isValid == index.isMultiple(of: 2)
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.count == 64 && outcomes.allSatisfy { $0 })
    }
}
