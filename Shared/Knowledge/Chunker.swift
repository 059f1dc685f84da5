/// A slice of a document sized for retrieval and prompting. Consecutive chunks of a document
/// overlap, so `text` of neighbours repeats ~`overlapTokens` of content.
public struct KnowledgeChunk: Sendable, Hashable, Identifiable {
    /// `<documentId>-<ordinal>-<12 hex of SHA-256(heading, text)>`: stable for unchanged
    /// content, and different whenever the chunk's content changes.
    public var id: String
    public var documentId: String
    /// 0-based position within the document.
    public var ordinal: Int
    /// Markdown headings enclosing most of the chunk, outermost first.
    public var headingPath: [String]
    public var text: String
    /// `TokenEstimator.count(text)`.
    public var tokenCount: Int
    /// UTF-8 byte offsets of `text` within the document text.
    public var startOffset: Int
    public var endOffset: Int

    public init(
        id: String, documentId: String, ordinal: Int, headingPath: [String], text: String, tokenCount: Int,
        startOffset: Int, endOffset: Int
    ) {
        self.id = id
        self.documentId = documentId
        self.ordinal = ordinal
        self.headingPath = headingPath
        self.text = text
        self.tokenCount = tokenCount
        self.startOffset = startOffset
        self.endOffset = endOffset
    }

    /// The heading path as a breadcrumb, e.g. "Returns > Refund timing".
    public var heading: String { headingPath.joined(separator: " > ") }
}

/// Splits documents into chunks of `minTokens…maxTokens` (aiming at `targetTokens`), with
/// `overlapTokens` of overlap, counted with `TokenEstimator`.
///
/// Text is cut only between whitespace-separated words. Among the cut points whose chunk
/// would hold `minTokens…maxTokens`, the strongest kind wins — before a heading, then at a
/// blank line (paragraph), then at a sentence end or list item, then between any two words
/// (a soft line wrap counts as a space) —
/// and within a kind the one closest to `targetTokens`. A cut is never placed right after a
/// heading line, nor inside a code block unless nothing else fits. The next chunk starts
/// ~`overlapTokens` before the cut (within ±⅓, again preferring the strongest boundary).
/// A cut that would leave a final chunk below `minTokens` is avoided when possible, and text
/// of at most `maxTokens` is never split, so a short document is a single chunk.
///
/// Only a run of more than `maxTokens / 4` tokens without any whitespace (a pasted blob, not
/// a word) is split inside, at character (grapheme) boundaries, so every chunk stays within
/// `maxTokens`. Output is a pure function of the input text and settings.
public struct Chunker: Sendable {
    public let targetTokens: Int
    public let minTokens: Int
    public let maxTokens: Int
    public let overlapTokens: Int

    /// Target 400, min 300, max 500, overlap 60.
    public init() {
        self.targetTokens = 400
        self.minTokens = 300
        self.maxTokens = 500
        self.overlapTokens = 60
    }

    /// Requires `1 ≤ min ≤ target ≤ max` and `0 ≤ 2 × overlap ≤ min` (so each chunk adds new
    /// text beyond its overlap).
    public init(targetTokens: Int, minTokens: Int, maxTokens: Int, overlapTokens: Int) throws(KnowledgeError) {
        guard minTokens >= 1, minTokens <= targetTokens, targetTokens <= maxTokens else {
            throw KnowledgeError(code: .invalidArgument, message: "chunk sizes must satisfy 1 ≤ min ≤ target ≤ max")
        }
        guard overlapTokens >= 0, overlapTokens * 2 <= minTokens else {
            throw KnowledgeError(code: .invalidArgument, message: "chunk overlap must be between 0 and min / 2 tokens")
        }
        self.targetTokens = targetTokens
        self.minTokens = minTokens
        self.maxTokens = maxTokens
        self.overlapTokens = overlapTokens
    }

    public func chunks(for document: KnowledgeDocument) -> [KnowledgeChunk] {
        chunks(text: document.text, documentId: document.id)
    }

    /// Empty or whitespace-only text yields no chunks.
    public func chunks(text: String, documentId: String) -> [KnowledgeChunk] {
        let layout = Layout(text: text, hardSplitTokens: max(1, maxTokens / 4))
        let atoms = layout.atoms
        guard !atoms.isEmpty else { return [] }
        var prefix = [0]
        prefix.reserveCapacity(atoms.count + 1)
        for atom in atoms { prefix.append(prefix[prefix.count - 1] + atom.tokens) }
        let n = atoms.count

        var result: [KnowledgeChunk] = []
        var start = 0
        var previousEnd = 0
        while start < n {
            let end = cut(from: start, after: previousEnd, atoms: atoms, prefix: prefix)
            result.append(makeChunk(atoms[start..<end], layout: layout, documentId: documentId, ordinal: result.count))
            if end == n { break }
            start = overlapStart(from: start, end: end, atoms: atoms, prefix: prefix)
            previousEnd = end
        }
        return result
    }

    /// End (exclusive atom index) of the chunk starting at `start`; always > `after`.
    private func cut(from start: Int, after previousEnd: Int, atoms: [Atom], prefix: [Int]) -> Int {
        let n = atoms.count
        if prefix[n] - prefix[start] <= maxTokens { return n }
        struct Candidate {
            var end: Int
            var size: Int
            var strength: Int
            var tail: Int
        }
        var all: [Candidate] = []
        var end = max(start + 1, previousEnd + 1)
        while end < n, prefix[end] - prefix[start] <= maxTokens {
            all.append(
                Candidate(
                    end: end, size: prefix[end] - prefix[start], strength: atoms[end].breakBefore,
                    tail: prefix[n] - prefix[end]))
            end += 1
        }
        // Atoms are at most maxTokens / 4, so this only triggers for a zero-budget corner.
        guard !all.isEmpty else { return max(start + 1, previousEnd + 1) }
        var pool = all.filter { $0.size >= minTokens }
        if pool.isEmpty { pool = all }
        let keepsTail = pool.filter { $0.tail + overlapTokens >= minTokens }
        if !keepsTail.isEmpty { pool = keepsTail }
        let best = pool.max { a, b in
            if a.strength != b.strength { return a.strength < b.strength }
            let da = abs(a.size - targetTokens)
            let db = abs(b.size - targetTokens)
            if da != db { return da > db }
            return a.end < b.end
        }!
        return best.end
    }

    /// Start of the chunk after `start..<end`: ~overlapTokens before `end`, always > `start`.
    private func overlapStart(from start: Int, end: Int, atoms: [Atom], prefix: [Int]) -> Int {
        guard overlapTokens > 0 else { return end }
        let low = max(1, overlapTokens * 2 / 3)
        let high = overlapTokens * 4 / 3
        var best: (index: Int, strength: Int, distance: Int)? = nil
        var index = end - 1
        while index > start {
            let size = prefix[end] - prefix[index]
            if size > high { break }
            if size >= low {
                let candidate = (index: index, strength: atoms[index].breakBefore, distance: abs(size - overlapTokens))
                if let current = best {
                    if candidate.strength > current.strength
                        || (candidate.strength == current.strength && candidate.distance < current.distance)
                    {
                        best = candidate
                    }
                } else {
                    best = candidate
                }
            }
            index -= 1
        }
        if let best { return best.index }
        // No boundary within the band (very long words): the nearest one at or beyond it.
        index = end - 1
        while index > start {
            if prefix[end] - prefix[index] >= overlapTokens { return index }
            index -= 1
        }
        return end
    }

    private func makeChunk(_ atoms: ArraySlice<Atom>, layout: Layout, documentId: String, ordinal: Int)
        -> KnowledgeChunk
    {
        let first = atoms.first!
        let last = atoms.last!
        let text = String(layout.text[first.start..<last.end])
        // The section holding most of the chunk's tokens names it (earliest on a tie).
        var weights: [Int: Int] = [:]
        for atom in atoms { weights[atom.section, default: 0] += atom.tokens }
        let section = weights.max { a, b in a.value != b.value ? a.value < b.value : a.key > b.key }!.key
        let headingPath = layout.sections[section]
        let digest = sha256Hex(Array((headingPath.joined(separator: "\u{1F}") + "\u{1E}" + text).utf8))
        return KnowledgeChunk(
            id: "\(documentId)-\(ordinal)-\(digest.prefix(12))",
            documentId: documentId,
            ordinal: ordinal,
            headingPath: headingPath,
            text: text,
            tokenCount: TokenEstimator.count(text),
            startOffset: first.startOffset,
            endOffset: last.endOffset)
    }
}

// MARK: - Layout

/// Cut preference before an atom (higher is better).
private enum Break {
    static let insideBlob = -1
    static let afterHeading = 0
    static let word = 1
    static let sentence = 2
    static let paragraph = 3
    static let heading = 4
}

/// A whitespace-delimited word (or a piece of an over-long one) with its cut preference.
struct Atom {
    var start: String.Index
    var end: String.Index
    var startOffset: Int
    var endOffset: Int
    var tokens: Int
    var breakBefore: Int
    var section: Int
}

/// The document as atoms plus the heading path of each section.
struct Layout {
    let text: String
    private(set) var atoms: [Atom] = []
    /// Index 0 is the text before any heading.
    private(set) var sections: [[String]] = [[]]

    init(text: String, hardSplitTokens: Int) {
        self.text = text
        var fence: Markdown.Fence? = nil
        var stack: [(level: Int, text: String)] = []
        var section = 0
        var blankPending = false
        var previousWasHeading = false
        var lineStart = text.startIndex
        while lineStart < text.endIndex {
            // Byte search: "\r\n" is one Character, so a Character search would miss it.
            let lineEnd = text.utf8[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? text.endIndex
            let line = text[lineStart..<lineEnd]
            defer { lineStart = lineEnd < text.endIndex ? text.utf8.index(after: lineEnd) : text.endIndex }
            guard line.unicodeScalars.contains(where: { !isBreakingSpace($0) }) else {
                blankPending = true
                continue
            }
            var lineBreak: Int
            var inCode = false
            var isHeading = false
            if let open = fence {
                if Markdown.closes(open, line) { fence = nil }
                lineBreak = Break.word
                inCode = true
            } else if let opening = Markdown.openingFence(line) {
                fence = opening
                lineBreak = blankPending ? Break.paragraph : Break.sentence
                inCode = true
            } else if let heading = Markdown.heading(line) {
                while let top = stack.last, top.level >= heading.level { stack.removeLast() }
                stack.append((heading.level, heading.text))
                sections.append(stack.map(\.text).filter { !$0.isEmpty })
                section = sections.count - 1
                lineBreak = Break.heading
                isHeading = true
            } else if blankPending {
                lineBreak = Break.paragraph
            } else if Self.startsListItem(line)
                || atoms.last.map({ Self.endsSentence(text[$0.start..<$0.end]) }) == true
            {
                lineBreak = Break.sentence
            } else {
                // A soft wrap inside a paragraph is no better than any space between words.
                lineBreak = Break.word
            }
            if previousWasHeading && !isHeading { lineBreak = Break.afterHeading }
            previousWasHeading = isHeading
            blankPending = false
            addAtoms(
                of: line, firstBreak: lineBreak, innerBreak: (isHeading ? Break.afterHeading : Break.word),
                sentences: !inCode && !isHeading, section: section, hardSplitTokens: hardSplitTokens)
        }
    }

    private mutating func addAtoms(
        of line: Substring, firstBreak: Int, innerBreak: Int, sentences: Bool, section: Int, hardSplitTokens: Int
    ) {
        var isFirst = true
        var index = line.startIndex
        let scalars = line.unicodeScalars
        while index < line.endIndex {
            guard !isBreakingSpace(scalars[index]) else {
                index = scalars.index(after: index)
                continue
            }
            var end = index
            while end < line.endIndex, !isBreakingSpace(scalars[end]) { end = scalars.index(after: end) }
            let word = line[index..<end]
            var strength = innerBreak
            if isFirst {
                strength = firstBreak
            } else if sentences, let previous = atoms.last, Self.endsSentence(text[previous.start..<previous.end]) {
                strength = Break.sentence
            }
            append(word, breakBefore: strength, section: section, hardSplitTokens: hardSplitTokens)
            isFirst = false
            index = end
        }
    }

    private mutating func append(_ word: Substring, breakBefore: Int, section: Int, hardSplitTokens: Int) {
        let tokens = TokenEstimator.count(word)
        guard tokens > hardSplitTokens else {
            atoms.append(atom(word, tokens: tokens, breakBefore: breakBefore, section: section))
            return
        }
        // A blob without whitespace: split at grapheme boundaries into pieces within budget.
        var pieceStart = word.startIndex
        var counter = TokenCounter()
        var strength = breakBefore
        var index = word.startIndex
        while index < word.endIndex {
            let next = word.index(after: index)
            var extended = counter
            for scalar in word[index..<next].unicodeScalars { extended.add(scalar) }
            if extended.total > hardSplitTokens, index > pieceStart {
                let piece = word[pieceStart..<index]
                atoms.append(atom(piece, tokens: TokenEstimator.count(piece), breakBefore: strength, section: section))
                strength = Break.insideBlob
                pieceStart = index
                counter = TokenCounter()
                for scalar in word[index..<next].unicodeScalars { counter.add(scalar) }
            } else {
                counter = extended
            }
            index = next
        }
        let piece = word[pieceStart..<word.endIndex]
        atoms.append(atom(piece, tokens: TokenEstimator.count(piece), breakBefore: strength, section: section))
    }

    private func atom(_ word: Substring, tokens: Int, breakBefore: Int, section: Int) -> Atom {
        Atom(
            start: word.startIndex, end: word.endIndex,
            startOffset: text.utf8.distance(from: text.startIndex, to: word.startIndex),
            endOffset: text.utf8.distance(from: text.startIndex, to: word.endIndex),
            tokens: tokens, breakBefore: breakBefore, section: section)
    }

    /// `- `, `* `, `+ `, `1. `, `1) ` list items and `|` table rows: each line is a unit.
    static func startsListItem(_ line: Substring) -> Bool {
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        guard let first = trimmed.first else { return false }
        if first == "|" { return true }
        if "-*+".contains(first) { return trimmed.dropFirst().first.map { $0 == " " || $0 == "\t" } ?? false }
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 9 else { return false }
        let rest = trimmed.dropFirst(digits.count)
        guard let marker = rest.first, marker == "." || marker == ")" else { return false }
        return rest.dropFirst().first.map { $0 == " " || $0 == "\t" } ?? true
    }

    private static let abbreviations: Set<String> = [
        "e.g.", "i.e.", "vs.", "mr.", "mrs.", "ms.", "dr.", "st.", "approx.",
    ]

    /// Ends with `.`, `!`, `?` or `…`, possibly followed by closing quotes/brackets/emphasis.
    static func endsSentence(_ word: Substring) -> Bool {
        let closers: Set<Character> = ["\"", "'", "”", "’", ")", "]", "*", "_"]
        var trimmed = word
        while let last = trimmed.last, closers.contains(last) { trimmed = trimmed.dropLast() }
        guard let last = trimmed.last, [".", "!", "?", "…"].contains(last) else { return false }
        return !abbreviations.contains(trimmed.lowercased())
    }
}

/// Word separators for chunking: Unicode White_Space (ASCII fast path). Zero-width joiners
/// and the like are not separators, so emoji sequences are never split.
func isBreakingSpace(_ scalar: Unicode.Scalar) -> Bool {
    if scalar.isASCII {
        return scalar.value == 0x20 || (0x09...0x0D).contains(scalar.value)
    }
    return scalar.properties.isWhitespace
}
