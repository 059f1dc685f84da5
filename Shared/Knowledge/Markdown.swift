/// The little Markdown structure chunking needs: ATX headings (`#`…`######`) and fenced code
/// blocks (``` / ~~~), per CommonMark's line rules. Setext headings (`===`/`---` underlines)
/// are not recognised: `---` is too often a rule or front matter.
enum Markdown {
    struct Fence: Equatable {
        var marker: UInt8
        var length: Int
    }

    /// `(level, text)` for an ATX heading line; the closing `#` sequence is dropped.
    static func heading(_ line: Substring) -> (level: Int, text: String)? {
        let bytes = Array(line.utf8)
        var i = leadingIndent(bytes)
        guard i <= 3 else { return nil }
        var level = 0
        while i < bytes.count, bytes[i] == UInt8(ascii: "#") {
            level += 1
            i += 1
        }
        guard (1...6).contains(level) else { return nil }
        guard i == bytes.count || bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t") else { return nil }
        var end = bytes.count
        while end > i, isSpace(bytes[end - 1]) { end -= 1 }
        // Optional closing sequence: spaces then only '#' up to the end.
        var j = end
        while j > i, bytes[j - 1] == UInt8(ascii: "#") { j -= 1 }
        if j < end, j == i || isSpace(bytes[j - 1]) { end = j }
        while end > i, isSpace(bytes[end - 1]) { end -= 1 }
        while i < end, isSpace(bytes[i]) { i += 1 }
        return (level, String(decoding: bytes[i..<end], as: UTF8.self))
    }

    /// The opening fence of a code block, if `line` is one.
    static func openingFence(_ line: Substring) -> Fence? {
        let bytes = Array(line.utf8)
        let i = leadingIndent(bytes)
        guard i <= 3, i < bytes.count else { return nil }
        let marker = bytes[i]
        guard marker == UInt8(ascii: "`") || marker == UInt8(ascii: "~") else { return nil }
        var j = i
        while j < bytes.count, bytes[j] == marker { j += 1 }
        guard j - i >= 3 else { return nil }
        // A backtick fence's info string cannot contain backticks.
        if marker == UInt8(ascii: "`"), bytes[j...].contains(marker) { return nil }
        return Fence(marker: marker, length: j - i)
    }

    /// Whether `line` closes a block opened by `fence`.
    static func closes(_ fence: Fence, _ line: Substring) -> Bool {
        let bytes = Array(line.utf8)
        let i = leadingIndent(bytes)
        guard i <= 3 else { return false }
        var j = i
        while j < bytes.count, bytes[j] == fence.marker { j += 1 }
        guard j - i >= fence.length else { return false }
        return bytes[j...].allSatisfy(isSpace)
    }

    /// The text of the first level-1 heading outside code blocks, if any and non-empty.
    static func title(of text: String) -> String? {
        var fence: Fence? = nil
        for bytes in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let line = Substring(bytes)
            if let open = fence {
                if closes(open, line) { fence = nil }
            } else if let opening = openingFence(line) {
                fence = opening
            } else if let heading = heading(line), heading.level == 1, !heading.text.isEmpty {
                return heading.text
            }
        }
        return nil
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    private static func leadingIndent(_ bytes: [UInt8]) -> Int {
        var i = 0
        while i < bytes.count, bytes[i] == UInt8(ascii: " ") { i += 1 }
        return i
    }
}
