import Foundation

/// One retrieved chunk with its document's metadata. `retrievalScore` is the first stage's
/// score (Postgres `ts_rank_cd`); `score` is the reranker's (equal to it before reranking).
public struct KnowledgeHit: Sendable, Hashable {
    public var chunkId: String
    public var documentId: String
    public var ordinal: Int
    public var title: String
    public var source: String
    /// Breadcrumb of the chunk's section, rooted at the document title.
    public var heading: String
    public var text: String
    public var retrievalScore: Double
    public var score: Double

    public init(
        chunkId: String, documentId: String, ordinal: Int, title: String, source: String, heading: String, text: String,
        retrievalScore: Double, score: Double? = nil
    ) {
        self.chunkId = chunkId
        self.documentId = documentId
        self.ordinal = ordinal
        self.title = title
        self.source = source
        self.heading = heading
        self.text = text
        self.retrievalScore = retrievalScore
        self.score = score ?? retrievalScore
    }

    /// The chunk fenced as untrusted prompt material (see `untrustedFence`).
    public var fencedText: String { untrustedFence(text, source: source) }
}

/// Second retrieval stage: orders the first stage's candidates and keeps the best `limit`.
/// Async and throwing so an embedding or cross-encoder reranker calling a model can conform.
public protocol KnowledgeReranker: Sendable {
    func rerank(query: String, candidates: [KnowledgeHit], limit: Int) async throws -> [KnowledgeHit]
}

/// Deterministic lexical reranker, pure Swift (no database, no model).
///
/// Query, chunk text, heading and title go through the same analysis: lowercase, split into
/// runs of letters/digits, drop English stop words and single letters, then a light suffix
/// stemmer (plural `s`/`es`/`ies`, `ing`, `ed`, final `e`, undoubled consonant) so "refunds",
/// "refunded" and "refund" meet. With Q the distinct query terms and N the candidate count:
///
/// - `idf(t) = ln(1 + (N − df + 0.5) / (df + 0.5))`, df counted over the candidates (text,
///   heading or title), so terms every candidate shares carry almost no weight;
/// - `bm25` = Σ_{t∈Q} idf·tf·(k1+1) / (tf + k1·(1 − b + b·len/avglen)) over the chunk text
///   (k1 1.2, b 0.75), divided by the best candidate's so it lies in 0…1;
/// - `coverage`, `headingCoverage`, `titleCoverage` = idf-weighted share of Q present in the
///   chunk (text, heading or title) / its heading / its title, over the terms of Q that at
///   least one candidate contains;
/// - `proximity` = (k − 1)/(span − 1) × k/|Q| for the shortest run of the text holding all k
///   matched terms (k ≥ 2; 0 otherwise): 1 when the whole query appears as adjacent words;
/// - `retrieval` = retrievalScore / best retrievalScore.
///
/// score = Σ weight × component (defaults: bm25 1.0, coverage 0.8, heading 0.5, title 0.25,
/// proximity 0.3, retrieval 0.1). Ties go to the higher retrieval score, then chunk id.
public struct LexicalReranker: KnowledgeReranker {
    public struct Weights: Sendable, Hashable {
        public var bm25 = 1.0
        public var coverage = 0.8
        public var heading = 0.5
        public var title = 0.25
        public var proximity = 0.3
        public var retrieval = 0.1
        public var k1 = 1.2
        public var b = 0.75
        public init() {}
    }

    public var weights: Weights

    public init(weights: Weights = Weights()) {
        self.weights = weights
    }

    public func rerank(query: String, candidates: [KnowledgeHit], limit: Int) async throws -> [KnowledgeHit] {
        rank(query: query, candidates: candidates, limit: limit)
    }

    /// Synchronous form of `rerank`.
    public func rank(query: String, candidates: [KnowledgeHit], limit: Int) -> [KnowledgeHit] {
        guard limit > 0, !candidates.isEmpty else { return [] }
        let queryTerms = Array(Set(TextAnalyzer.terms(query))).sorted()
        let docs = candidates.map { Analyzed($0) }
        let n = Double(docs.count)
        var idf: [String: Double] = [:]
        for term in queryTerms {
            let df = Double(docs.filter { $0.all.contains(term) }.count)
            idf[term] = log(1 + (n - df + 0.5) / (df + 0.5))
        }
        // Terms no candidate contains cannot tell candidates apart; leaving them out keeps
        // the coverage shares comparable in size to the other components.
        let queryWeight = queryTerms.reduce(0) { sum, term in
            docs.contains { $0.all.contains(term) } ? sum + idf[term]! : sum
        }
        let averageLength = max(1, Double(docs.reduce(0) { $0 + $1.body.count }) / n)

        let bm25 = docs.map { doc -> Double in
            let length = Double(doc.body.count)
            return queryTerms.reduce(0) { sum, term in
                guard let tf = doc.frequency[term].map(Double.init) else { return sum }
                let norm = weights.k1 * (1 - weights.b + weights.b * length / averageLength)
                return sum + idf[term]! * tf * (weights.k1 + 1) / (tf + norm)
            }
        }
        let bestBM25 = bm25.max() ?? 0
        let bestRetrieval = candidates.map(\.retrievalScore).max() ?? 0

        func share(_ terms: Set<String>) -> Double {
            guard queryWeight > 0 else { return 0 }
            return queryTerms.reduce(0) { terms.contains($1) ? $0 + idf[$1]! : $0 } / queryWeight
        }

        var scored: [KnowledgeHit] = []
        for (i, doc) in docs.enumerated() {
            var hit = candidates[i]
            let components = [
                weights.bm25 * (bestBM25 > 0 ? bm25[i] / bestBM25 : 0),
                weights.coverage * share(doc.all),
                weights.heading * share(doc.heading),
                weights.title * share(doc.title),
                weights.proximity * Self.proximity(doc.body, queryTerms: Set(queryTerms)),
                weights.retrieval * (bestRetrieval > 0 ? max(0, hit.retrievalScore) / bestRetrieval : 0),
            ]
            hit.score = components.reduce(0, +)
            scored.append(hit)
        }
        scored.sort { a, b in
            if a.score != b.score { return a.score > b.score }
            if a.retrievalScore != b.retrievalScore { return a.retrievalScore > b.retrievalScore }
            return a.chunkId < b.chunkId
        }
        return Array(scored.prefix(limit))
    }

    /// (k − 1)/(span − 1) × k/|Q| for the shortest window of `body` holding every matched term.
    static func proximity(_ body: [String], queryTerms: Set<String>) -> Double {
        guard queryTerms.count >= 2 else { return 0 }
        let positions = body.enumerated().filter { queryTerms.contains($0.element) }
        let distinct = Set(positions.map(\.element)).count
        guard distinct >= 2 else { return 0 }
        // Sliding window over the matched positions.
        var counts: [String: Int] = [:]
        var covered = 0
        var bestSpan = Int.max
        var left = 0
        for right in positions.indices {
            counts[positions[right].element, default: 0] += 1
            if counts[positions[right].element] == 1 { covered += 1 }
            while covered == distinct {
                bestSpan = min(bestSpan, positions[right].offset - positions[left].offset + 1)
                let term = positions[left].element
                counts[term]! -= 1
                if counts[term] == 0 { covered -= 1 }
                left += 1
            }
        }
        let k = Double(distinct)
        return (k - 1) / Double(bestSpan - 1) * k / Double(queryTerms.count)
    }

    private struct Analyzed {
        let body: [String]
        let frequency: [String: Int]
        let heading: Set<String>
        let title: Set<String>
        let all: Set<String>

        init(_ hit: KnowledgeHit) {
            body = TextAnalyzer.terms(hit.text)
            var frequency: [String: Int] = [:]
            for term in body { frequency[term, default: 0] += 1 }
            self.frequency = frequency
            heading = Set(TextAnalyzer.terms(hit.heading))
            title = Set(TextAnalyzer.terms(hit.title))
            all = Set(body).union(heading).union(title)
        }
    }
}

/// Term extraction shared by the reranker's query and document sides.
public enum TextAnalyzer {
    /// Lowercased, stop-word-free, stemmed terms in text order.
    public static func terms(_ text: String) -> [String] {
        var result: [String] = []
        var current = ""
        func flush() {
            defer { current = "" }
            guard !current.isEmpty else { return }
            if current.unicodeScalars.count == 1, current.unicodeScalars.first!.properties.numericType == nil { return }
            if stopWords.contains(current) { return }
            result.append(stem(current))
        }
        for scalar in text.lowercased().unicodeScalars {
            if TokenClass(scalar) == .word, scalar != "_" {
                current.unicodeScalars.append(scalar)
            } else {
                flush()
            }
        }
        flush()
        return result
    }

    /// Light suffix stemmer; see `LexicalReranker`. Only applied to words longer than 3.
    public static func stem(_ word: String) -> String {
        var w = Array(word.unicodeScalars)
        guard w.count > 3, w.allSatisfy({ $0.isASCII }) else { return word }
        func ends(_ suffix: String) -> Bool {
            let s = Array(suffix.unicodeScalars)
            return w.count >= s.count && Array(w.suffix(s.count)) == s
        }
        func isVowel(_ c: Unicode.Scalar) -> Bool { "aeiou".unicodeScalars.contains(c) }
        if ends("sses") {
            w.removeLast(2)
        } else if ends("ies"), w.count > 4 {
            w.removeLast(3)
            w.append("y")
        } else if ends("s"), !ends("ss"), !ends("us"), !ends("is") {
            w.removeLast()
        }
        var strippedVerbSuffix = false
        if ends("ing"), w.count > 5, w.dropLast(3).contains(where: isVowel) {
            w.removeLast(3)
            strippedVerbSuffix = true
        } else if ends("ed"), w.count > 4, w.dropLast(2).contains(where: isVowel) {
            w.removeLast(2)
            strippedVerbSuffix = true
        }
        if strippedVerbSuffix, w.count >= 2, w[w.count - 1] == w[w.count - 2], !isVowel(w[w.count - 1]),
            !"lsz".unicodeScalars.contains(w[w.count - 1])
        {
            w.removeLast()
        }
        if w.count >= 4, w.last == "e" { w.removeLast() }
        return String(String.UnicodeScalarView(w))
    }

    /// Postgres' english.stop list, so both retrieval stages ignore the same words.
    static let stopWords: Set<String> = [
        "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours", "yourself",
        "yourselves", "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself", "they",
        "them", "their", "theirs", "themselves", "what", "which", "who", "whom", "this", "that", "these", "those",
        "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did",
        "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as", "until", "while", "of", "at", "by",
        "for", "with", "about", "against", "between", "into", "through", "during", "before", "after", "above",
        "below", "to", "from", "up", "down", "in", "out", "on", "off", "over", "under", "again", "further", "then",
        "once", "here", "there", "when", "where", "why", "how", "all", "any", "both", "each", "few", "more", "most",
        "other", "some", "such", "no", "nor", "not", "only", "own", "same", "so", "than", "too", "very", "s", "t",
        "can", "will", "just", "don", "should", "now",
    ]
}
