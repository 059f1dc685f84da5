import Foundation
import JSON
import JSONSchema
import Testing

/// Runs every case of the official JSON-Schema-Test-Suite (draft 2020-12) kept in the
/// repository beside this file (`json-schema-test-suite/`: upstream's files unchanged, with its
/// LICENSE and the commit they come from), or in the folder named by `JSON_SCHEMA_TEST_SUITE`
/// (a suite root holding `draft2020-12/`, or a folder of case files itself), to run a fuller
/// upstream checkout. Nothing outside the repository is read by default. If the suite root also has the upstream `remotes/` folder, its
/// documents are offered as resources under http://localhost:1234/, as the suite expects.
@Suite("JSON Schema Test Suite (draft 2020-12)")
struct ConformanceTests {
    struct Skip {
        var file: String
        var group: String
        var test: String
        var reason: String
    }

    /// Cases we knowingly do not support. Entries for files absent from the suite folder are
    /// ignored (the repository holds a subset of upstream); an entry whose file is present
    /// but whose case is not, or whose case now passes, fails the test so the list stays true.
    static let skips: [Skip] = [
        Skip(
            file: "vocabulary.json", group: "schema that uses custom metaschema with with no validation vocabulary",
            test: "no validation: invalid number, but it still validates",
            reason: "$vocabulary is not honoured: the validation vocabulary is always on"),
    ]

    struct Failure: CustomStringConvertible {
        var file, group, test, detail: String
        var description: String { "\(file) | \(group) | \(test): \(detail)" }
    }

    static func locateSuite() -> URL? {
        let fileManager = FileManager.default
        func isDirectory(_ url: URL) -> Bool {
            var isDir: ObjCBool = false
            return fileManager.fileExists(atPath: url.path, isDirectory: &isDir) && isDir.boolValue
        }
        if let override = ProcessInfo.processInfo.environment["JSON_SCHEMA_TEST_SUITE"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        let bundled = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("json-schema-test-suite")
        return isDirectory(bundled) ? bundled : nil
    }

    static func loadJSON(_ url: URL) throws -> JSONValue {
        try JSONValue.parse(try Data(contentsOf: url))
    }

    /// Upstream's remotes/ folder, keyed by the URI the suite serves it under.
    static func remotes(in root: URL) throws -> [String: JSONValue] {
        let folder = root.appendingPathComponent("remotes")
        guard let enumerator = FileManager.default.enumerator(atPath: folder.path) else { return [:] }
        var documents: [String: JSONValue] = [:]
        for case let relative as String in enumerator where relative.hasSuffix(".json") {
            documents["http://localhost:1234/" + relative] = try loadJSON(folder.appendingPathComponent(relative))
        }
        return documents
    }

    @Test("every case passes or is on the skip list")
    func suite() throws {
        let suiteRoot = try #require(
            Self.locateSuite(),
            "json-schema-test-suite not found beside this file (Tests/JSONSchemaTests/json-schema-test-suite) nor at JSON_SCHEMA_TEST_SUITE")
        let draftFolder = suiteRoot.appendingPathComponent("draft2020-12")
        let casesFolder = FileManager.default.fileExists(atPath: draftFolder.path) ? draftFolder : suiteRoot
        let files = try FileManager.default.contentsOfDirectory(atPath: casesFolder.path)
            .filter { $0.hasSuffix(".json") }.sorted()
        try #require(!files.isEmpty, "no case files in \(casesFolder.path)")
        let resources = try Self.remotes(in: suiteRoot)

        var passed = 0
        var skipped = 0
        var failures: [Failure] = []
        var usedSkips = Set<Int>()

        for file in files {
            guard case .array(let groups) = try Self.loadJSON(casesFolder.appendingPathComponent(file)) else {
                Issue.record("\(file) is not a list of groups")
                continue
            }
            for group in groups {
                let groupName = try #require(group["description"]?.stringValue)
                let schemaValue = try #require(group["schema"])
                let tests = try #require(group["tests"]?.arrayValue)
                let schema: Result<JSONSchema, SchemaError> = Result { () throws(SchemaError) in
                    try JSONSchema(schemaValue, resources: resources)
                }
                for test in tests {
                    let testName = try #require(test["description"]?.stringValue)
                    let data = try #require(test["data"])
                    let expected = try #require(test["valid"]?.boolValue as Bool?)
                    let skipIndex = Self.skips.firstIndex {
                        $0.file == file && $0.group == groupName && $0.test == testName
                    }
                    var detail: String?
                    switch schema {
                    case .failure(let error):
                        detail = "schema did not compile: \(error)"
                    case .success(let schema):
                        let result = schema.validate(data)
                        let quick = schema.isValid(data)
                        if result.isValid != expected {
                            detail = "expected \(expected ? "valid" : "invalid"), got \(result.errors)"
                        } else if quick != expected {
                            detail = "isValid(_:) disagrees with validate(_:)"
                        } else if result.isValid != result.errors.isEmpty {
                            detail = "errors must be empty exactly when valid"
                        }
                    }
                    if let skipIndex {
                        usedSkips.insert(skipIndex)
                        if detail == nil {
                            failures.append(Failure(file: file, group: groupName, test: testName, detail: "skipped case now passes: remove it from the skip list"))
                        } else {
                            skipped += 1
                        }
                    } else if let detail {
                        failures.append(Failure(file: file, group: groupName, test: testName, detail: detail))
                    } else {
                        passed += 1
                    }
                }
            }
        }
        for (index, skip) in Self.skips.enumerated() where files.contains(skip.file) && !usedSkips.contains(index) {
            failures.append(Failure(file: skip.file, group: skip.group, test: skip.test, detail: "skip entry matches no case"))
        }

        // Not the runner's "N passed, N failed" wording, so CI tooling cannot mistake it for
        // the result of the whole test run.
        print("JSON Schema suite cases: \(passed) passed, \(skipped) skipped")
        #expect(passed > 0, "no suite case ran")
        #expect(failures.isEmpty, "\(failures.count) unexpected failure(s):\n\(failures.map(\.description).joined(separator: "\n"))")
    }
}
