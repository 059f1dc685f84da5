import Foundation
import Knowledge
import Testing

private func slice(_ text: String, _ start: Int, _ end: Int) -> String {
    String(decoding: Array(text.utf8)[start..<end], as: UTF8.self)
}

private func isSpaceOrEdge(_ bytes: [UInt8], _ index: Int) -> Bool {
    guard index >= 0, index < bytes.count else { return true }
    return [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index])
}

/// The properties every chunking must have; returns the overlaps (in tokens) for more checks.
@discardableResult
private func checkInvariants(
    _ text: String, _ chunks: [KnowledgeChunk], _ chunker: Chunker, sourceLocation: SourceLocation = #_sourceLocation
) -> [Int] {
    let bytes = Array(text.utf8)
    var overlaps: [Int] = []
    for (i, chunk) in chunks.enumerated() {
        #expect(chunk.ordinal == i, sourceLocation: sourceLocation)
        #expect(chunk.text == slice(text, chunk.startOffset, chunk.endOffset), sourceLocation: sourceLocation)
        #expect(chunk.tokenCount == TokenEstimator.count(chunk.text), sourceLocation: sourceLocation)
        #expect(
            chunk.tokenCount <= chunker.maxTokens, "chunk \(i) has \(chunk.tokenCount) tokens",
            sourceLocation: sourceLocation)
        // Never inside a word: whitespace (or the text's edge) on both sides.
        #expect(isSpaceOrEdge(bytes, chunk.startOffset - 1), sourceLocation: sourceLocation)
        #expect(isSpaceOrEdge(bytes, chunk.endOffset), sourceLocation: sourceLocation)
        if i + 1 < chunks.count {
            #expect(
                chunk.tokenCount >= chunker.minTokens, "non-final chunk \(i) below min", sourceLocation: sourceLocation)
            let next = chunks[i + 1]
            #expect(
                next.startOffset > chunk.startOffset && next.endOffset > chunk.endOffset, sourceLocation: sourceLocation
            )
            #expect(
                next.startOffset < chunk.endOffset, "chunks \(i) and \(i + 1) do not overlap",
                sourceLocation: sourceLocation)
            if next.startOffset < chunk.endOffset {
                overlaps.append(TokenEstimator.count(slice(text, next.startOffset, chunk.endOffset)))
            }
        }
    }
    // Coverage: the first chunk plus each chunk's part beyond its predecessor rebuilds the
    // text, minus only leading and trailing whitespace.
    if let first = chunks.first {
        var rebuilt = first.text
        for (previous, chunk) in zip(chunks, chunks.dropFirst()) {
            // Only whitespace may lie between chunks that do not overlap.
            let gap = slice(text, previous.endOffset, max(previous.endOffset, chunk.startOffset))
            #expect(gap.allSatisfy { $0.isWhitespace }, sourceLocation: sourceLocation)
            rebuilt += gap + slice(text, max(previous.endOffset, chunk.startOffset), chunk.endOffset)
        }
        #expect(rebuilt == text.trimmingCharacters(in: .whitespacesAndNewlines), sourceLocation: sourceLocation)
    } else {
        #expect(text.allSatisfy { $0.isWhitespace }, sourceLocation: sourceLocation)
    }
    return overlaps
}

@Suite struct TokenEstimatorTests {
    @Test func countsWordsByLengthAndPunctuationSeparately() {
        #expect(TokenEstimator.count("") == 0)
        #expect(TokenEstimator.count(" \n\t ") == 0)
        #expect(TokenEstimator.count("refund") == 1)
        #expect(TokenEstimator.count("shipping") == 2)
        #expect(TokenEstimator.count("internationalisation") == 4)
        #expect(TokenEstimator.count("Hello, world!") == 4)
        #expect(TokenEstimator.count("€4.95") == 4)  // € . and two digit runs
        #expect(TokenEstimator.count("naïve café") == 2)
    }

    @Test func isAdditiveOverWhitespace() {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<50 {
            let a = Generated.paragraph(&rng)
            let b = Generated.paragraph(&rng)
            #expect(TokenEstimator.count(a + " \n" + b) == TokenEstimator.count(a) + TokenEstimator.count(b))
        }
    }

    @Test func englishProseIsAboutThreeQuartersOfAWordPerToken() throws {
        let text = try String(contentsOf: Fixtures.corpus.appendingPathComponent("shipping.md"), encoding: .utf8)
        let words = Double(text.split(whereSeparator: \.isWhitespace).count)
        let ratio = words / Double(TokenEstimator.count(text))
        #expect(ratio > 0.6 && ratio < 0.9, "words per token \(ratio)")
    }
}

@Suite struct ChunkerTests {
    let chunker = Chunker()

    @Test(arguments: 1...12 as ClosedRange<UInt64>)
    func generatedDocumentsKeepAllProperties(seed: UInt64) {
        let text = Generated.markdown(seed: seed, sections: 4 + Int(seed % 9))
        let chunks = chunker.chunks(text: text, documentId: "doc")
        #expect(TokenEstimator.count(text) > chunker.maxTokens, "generator should exceed one chunk")
        #expect(chunks.count >= 2)
        let overlaps = checkInvariants(text, chunks, chunker)
        for overlap in overlaps {
            // ~60 tokens: the overlap band is overlap ± ⅓.
            #expect((40...80).contains(overlap), "overlap \(overlap) tokens")
        }
    }

    @Test func outputIsDeterministicAndIdsAreStable() {
        let text = Generated.markdown(seed: 42, sections: 10)
        let first = chunker.chunks(text: text, documentId: "doc_a")
        let second = chunker.chunks(text: String(text), documentId: "doc_a")
        #expect(first == second)
        #expect(Set(first.map(\.id)).count == first.count)
        #expect(first.allSatisfy { $0.id.hasPrefix("doc_a-\($0.ordinal)-") })
        // Editing the end changes only the chunks that contain the edit.
        let edited = chunker.chunks(text: text + "\nOne more closing sentence.", documentId: "doc_a")
        #expect(edited.first?.id == first.first?.id)
        #expect(edited.last?.id != first.last?.id)
    }

    @Test func shortDocumentIsOneChunkAndEmptyIsNone() {
        let text = "# FAQ\n\n## Payment\n\nWe accept cards and PayPal. Invoices are available in your account."
        let chunks = chunker.chunks(text: text, documentId: "d")
        #expect(chunks.count == 1)
        #expect(chunks[0].text == text)
        #expect(chunks[0].headingPath == ["FAQ", "Payment"])
        #expect(chunker.chunks(text: "  \n\n \t", documentId: "d").isEmpty)
        // Up to maxTokens (even above min) is never split.
        var rng = SeededGenerator(seed: 3)
        var medium = ""
        while TokenEstimator.count(medium) < 450 { medium += Generated.sentence(&rng) + " " }
        #expect(chunker.chunks(text: medium, documentId: "d").count == 1)
    }

    /// Sections of 320–420 tokens: every cut lands right before a heading, and each chunk is
    /// named by the heading path of the section it mostly holds.
    @Test func prefersHeadingsAndRecordsHeadingPaths() {
        var rng = SeededGenerator(seed: 11)
        func body(_ tokens: Int) -> String {
            var text = ""
            while TokenEstimator.count(text) < tokens {
                text += Generated.sentence(&rng) + (Bool.random(using: &rng) ? " " : "\n\n")
            }
            return text
        }
        let text =
            "# Returns\n\n" + body(330) + "\n\n## Refund timing\n\n" + body(330) + "\n\n### Card refunds\n\n"
            + body(330) + "\n\n## Exchanges\n\n" + body(330)
        let chunks = chunker.chunks(text: text, documentId: "d")
        checkInvariants(text, chunks, chunker)
        #expect(chunks.count == 4)
        let bytes = Array(text.utf8)
        for chunk in chunks.dropLast() {
            let after = String(decoding: bytes[chunk.endOffset...].prefix(8), as: UTF8.self)
            #expect(
                after.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("#"),
                "cut is not before a heading: \(after.debugDescription)")
        }
        #expect(
            chunks.map(\.heading) == [
                "Returns", "Returns > Refund timing", "Returns > Refund timing > Card refunds", "Returns > Exchanges",
            ])
    }

    @Test func prefersParagraphsThenSentences() {
        var rng = SeededGenerator(seed: 5)
        var paragraphs: [String] = []
        for _ in 0..<12 {
            var paragraph = ""
            while TokenEstimator.count(paragraph) < 110 { paragraph += Generated.sentence(&rng) + " " }
            paragraphs.append(paragraph.trimmingCharacters(in: .whitespaces))
        }
        let text = paragraphs.joined(separator: "\n\n")
        let chunks = chunker.chunks(text: text, documentId: "d")
        checkInvariants(text, chunks, chunker)
        let bytes = Array(text.utf8)
        for chunk in chunks.dropLast() {
            #expect(
                String(decoding: bytes[chunk.endOffset...].prefix(2), as: UTF8.self) == "\n\n",
                "cut is not at a paragraph")
        }
        // One long paragraph of sentences: cuts fall after sentence ends.
        let prose = paragraphs.joined(separator: " ")
        let proseChunks = chunker.chunks(text: prose, documentId: "d")
        checkInvariants(prose, proseChunks, chunker)
        for chunk in proseChunks.dropLast() {
            #expect([".", "!", "?"].contains(chunk.text.last), "cut is not at a sentence end")
        }
    }

    @Test func overLongSentenceIsSplitAtWordBoundaries() {
        var rng = SeededGenerator(seed: 9)
        let words = (0..<2_500).map { _ in
            ["refund", "parcel", "delivery", "warehouse", "and"].randomElement(using: &rng)!
        }
        let text = words.joined(separator: " ")
        let chunks = chunker.chunks(text: text, documentId: "d")
        #expect(chunks.count >= 6)
        checkInvariants(text, chunks, chunker)
    }

    @Test func blobWithoutWhitespaceStaysWithinMax() {
        let blob = String(repeating: "QUJDRA==/+", count: 1_500)
        let text = "# Key\n\nThe key is " + blob + " and nothing else."
        let chunks = chunker.chunks(text: text, documentId: "d")
        #expect(chunks.count >= 3)
        #expect(chunks.allSatisfy { $0.tokenCount <= chunker.maxTokens })
        #expect(chunks.map(\.text).joined().count >= blob.count)
    }

    @Test func headingsInsideCodeBlocksAreIgnored() {
        let text = "# Guide\n\n```sh\n# install\nmake install\n```\n\n## Usage\n\nRun it."
        let chunks = chunker.chunks(text: text, documentId: "d")
        #expect(chunks.count == 1)
        #expect(chunks[0].headingPath == ["Guide", "Usage"] || chunks[0].headingPath == ["Guide"])
        let long = "# Guide\n\n```\n" + String(repeating: "# comment line here\nvalue = 1\n", count: 200) + "```\n"
        let codeChunks = chunker.chunks(text: long, documentId: "d")
        #expect(codeChunks.allSatisfy { $0.headingPath == ["Guide"] })
    }

    /// The largest document the loader accepts chunks within bounds, with every property.
    @Test func largestAcceptedDocument() {
        var text = ""
        var seed: UInt64 = 1_000
        while text.utf8.count < (1 << 20) - 20_000 {
            text += Generated.markdown(seed: seed, sections: 10)
            seed += 1
        }
        let chunks = chunker.chunks(text: text, documentId: "big")
        #expect(chunks.count > 300)
        checkInvariants(text, chunks, chunker)
    }

    @Test func rejectsInconsistentSettings() {
        #expect(throws: KnowledgeError.self) {
            try Chunker(targetTokens: 100, minTokens: 200, maxTokens: 300, overlapTokens: 10)
        }
        #expect(throws: KnowledgeError.self) {
            try Chunker(targetTokens: 400, minTokens: 300, maxTokens: 500, overlapTokens: 200)
        }
        #expect(throws: Never.self) { try Chunker(targetTokens: 120, minTokens: 80, maxTokens: 150, overlapTokens: 0) }
    }

    @Test func zeroOverlapChunksAreAdjacent() throws {
        let small = try Chunker(targetTokens: 120, minTokens: 80, maxTokens: 150, overlapTokens: 0)
        let text = Generated.markdown(seed: 99, sections: 6)
        let chunks = small.chunks(text: text, documentId: "d")
        #expect(chunks.count > 3)
        let bytes = Array(text.utf8)
        for (a, b) in zip(chunks, chunks.dropFirst()) {
            #expect(a.endOffset <= b.startOffset)
            #expect(bytes[a.endOffset..<b.startOffset].allSatisfy { [0x20, 0x09, 0x0A, 0x0D].contains($0) })
            #expect(a.tokenCount <= 150)
        }
    }
}
