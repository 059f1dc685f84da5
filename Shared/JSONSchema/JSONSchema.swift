import JSON

/// A compiled JSON Schema (draft 2020-12) validator.
///
/// Compile once, validate many: all `$ref`s, `$id`s, anchors and regexes are resolved when
/// the schema is built, so a bad schema fails at `init` and ``validate(_:maxErrors:)`` never
/// throws. The value is immutable and `Sendable`; share it freely between tasks.
///
/// Supported: the applicator, unevaluated and validation vocabularies, boolean schemas,
/// `$defs`, `$ref`/`$dynamicRef` with `$id`, `$anchor` and `$dynamicAnchor`. `format` is an
/// annotation unless compiled with `Options.formatAssertion` (then date-time, date, time, email,
/// uuid, uri, ipv4 and ipv6 are asserted; other formats stay annotations). `content*` and the
/// meta-data keywords are annotations only. Any `$schema` is read as
/// 2020-12 and `$vocabulary` is not honoured. References reach only the schema document,
/// the `resources` passed to `init`, and the bundled 2020-12 meta-schemas; nothing is fetched.
public struct JSONSchema: Sendable {
    private let program: Program

    /// Compiles `schema`. `resources` are further schema documents by absolute URI (their
    /// retrieval URI; an `$id` inside resolves against it) that `$ref`s may point into, for
    /// example shared definitions of a domain pack. They are read only when referenced.
    public init(_ schema: JSONValue, resources: [String: JSONValue] = [:], options: Options = Options()) throws(SchemaError) {
        program = try Compiler.compile(schema, resources: resources, formatAssertion: options.formatAssertion)
    }

    public struct Options: Sendable, Equatable {
        /// Assert `format` (the format-assertion vocabulary) instead of only annotating.
        public var formatAssertion: Bool
        public init(formatAssertion: Bool = false) { self.formatAssertion = formatAssertion }
    }

    /// Parses and compiles a schema given as JSON text.
    public init(json: String, resources: [String: JSONValue] = [:]) throws(SchemaError) {
        let schema: JSONValue
        do {
            schema = try JSONValue.parse(json)
        } catch {
            throw SchemaError(code: .invalidJSON, schemaLocation: "", message: error.description)
        }
        try self.init(schema, resources: resources)
    }

    /// Validates `instance`, collecting up to `maxErrors` errors (validity is exact either way;
    /// the cap only bounds the report for hostile or very wrong input).
    public func validate(_ instance: JSONValue, maxErrors: Int = 100) -> ValidationResult {
        let evaluator = Evaluator(program: program, detailed: true, maxErrors: max(1, maxErrors))
        let valid = evaluator.run(instance)
        return ValidationResult(isValid: valid, errors: valid ? [] : evaluator.errors)
    }

    /// Whether `instance` is valid, without building any error report (faster).
    public func isValid(_ instance: JSONValue) -> Bool {
        Evaluator(program: program, detailed: false, maxErrors: 0).run(instance)
    }
}
