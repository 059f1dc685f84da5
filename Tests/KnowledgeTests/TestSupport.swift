import DatabaseTestSupport
import Foundation
import Knowledge
import Logging
import Postgres
import Testing

enum Fixtures {
    /// The sample corpus (returns, refunds, shipping, warranty) shipped as a test resource.
    static var corpus: URL {
        get throws {
            let root = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "fixtures missing")
            return root.appendingPathComponent("corpus")
        }
    }

    static let refundQuestion = "how long do refunds take after I send something back"

    /// A fresh temporary directory, removed afterwards.
    @discardableResult
    static func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("knowledge-tests-" + UUID().uuidString, isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: url) }
        return try await body(url)
    }

    /// Copies the corpus into a temporary directory the test may edit.
    static func withCorpusCopy<T>(_ body: (URL) async throws -> T) async throws -> T {
        let source = try corpus
        return try await withTemporaryDirectory { directory in
            for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
                try FileManager.default.copyItem(
                    at: source.appendingPathComponent(name), to: directory.appendingPathComponent(name))
            }
            return try await body(directory)
        }
    }

    static func write(_ text: String, to directory: URL, _ relative: String) throws {
        let url = directory.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }
}

extension TestDB {
    /// A migrated index in a scratch schema; pool closed and schema dropped afterwards.
    static func withIndex<T>(_ body: (KnowledgeIndex) async throws -> T) async throws -> T {
        try await withPool { pool in
            try await withSchema(pool, prefix: "kn") { schema in
                let index = try KnowledgeIndex(pool: pool, schema: schema, logger: logger)
                try await index.migrate()
                return try await body(index)
            }
        }
    }
}

/// Deterministic pseudo-random generator (SplitMix64) for generated test documents.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Generated {
    static let vocabulary = [
        "order", "parcel", "refund", "return", "the", "a", "customer", "delivery", "within", "days", "warehouse",
        "label", "account", "payment", "card", "support", "international", "replacement", "item", "is", "we",
        "your", "and", "of", "to", "shipping", "business", "processing", "confirmation", "e.g.", "(see", "below)",
        "—", "100%", "€4.95", "naïve", "café", "über-fast", "don't", "it's",
    ]

    static func sentence(_ rng: inout SeededGenerator, words: ClosedRange<Int> = 6...22) -> String {
        let count = Int.random(in: words, using: &rng)
        var parts = (0..<count).map { _ in vocabulary.randomElement(using: &rng)! }
        parts[0] = parts[0].prefix(1).uppercased() + parts[0].dropFirst()
        let end = [".", ".", ".", "!", "?"].randomElement(using: &rng)!
        return parts.joined(separator: " ") + end
    }

    static func paragraph(_ rng: inout SeededGenerator) -> String {
        (0..<Int.random(in: 1...7, using: &rng)).map { _ in sentence(&rng) }.joined(separator: " ")
    }

    /// Markdown with nested headings, paragraphs, lists and code blocks.
    static func markdown(seed: UInt64, sections: Int = 8) -> String {
        var rng = SeededGenerator(seed: seed)
        var out = "# Generated \(seed)\n\n" + paragraph(&rng) + "\n\n"
        for s in 0..<sections {
            let level = Int.random(in: 2...4, using: &rng)
            out +=
                String(repeating: "#", count: level) + " Section \(s) " + vocabulary.randomElement(using: &rng)!
                + "\n\n"
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                switch Int.random(in: 0..<10, using: &rng) {
                case 0:
                    out +=
                        (0..<Int.random(in: 2...6, using: &rng)).map { _ in "- " + sentence(&rng, words: 3...9) }
                        .joined(separator: "\n") + "\n\n"
                case 1:
                    out += "```swift\n# not a heading\nlet x = 1\n\nprint(x)\n```\n\n"
                default:
                    out += paragraph(&rng) + "\n\n"
                }
            }
        }
        return out
    }
}
