/// Deterministic, tokenizer-free estimate of LLM tokens, used for chunk budgets.
///
/// The estimate is additive over whitespace-separated text, so a chunk's count is the sum of
/// its words' counts (the chunker relies on this):
/// - a run of letters, digits, combining marks and `_` costs one token per started 6
///   characters (Unicode scalars): "refund" = 1, "shipping" = 2, "internationalisation" = 4;
/// - every other visible character (punctuation, symbols, emoji) costs 1 on its own, and so
///   does each ideograph (CJK text has no spaces and tokenizes about one token per character);
/// - whitespace is free.
/// English prose comes out at about 1.3 tokens per word (≈ 0.75 words per token), in line
/// with BPE tokenizers; code and URLs come out higher, as they do with real tokenizers.
public enum TokenEstimator {
    /// Characters of a word run that one token is assumed to cover.
    public static let charactersPerToken = 6

    public static func count(_ text: some StringProtocol) -> Int {
        var counter = TokenCounter()
        for scalar in text.unicodeScalars { counter.add(scalar) }
        return counter.total
    }
}

/// Incremental form of the estimate (a struct, so a caller can copy it to try an extension).
struct TokenCounter {
    private(set) var closed = 0
    private var run = 0

    var total: Int { closed + Self.runCost(run) }

    mutating func add(_ scalar: Unicode.Scalar) {
        switch TokenClass(scalar) {
        case .word:
            run += 1
        case .single:
            closeRun()
            closed += 1
        case .space:
            closeRun()
        }
    }

    private mutating func closeRun() {
        closed += Self.runCost(run)
        run = 0
    }

    private static func runCost(_ length: Int) -> Int {
        (length + TokenEstimator.charactersPerToken - 1) / TokenEstimator.charactersPerToken
    }
}

enum TokenClass {
    case word, single, space

    init(_ scalar: Unicode.Scalar) {
        if scalar.isASCII {
            // Fast path for the common case; same classification as below.
            switch scalar.value {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x5F: self = .word
            case 0x09...0x0D, 0x20: self = .space
            default: self = .single
            }
            return
        }
        let properties = scalar.properties
        if properties.isWhitespace || properties.isDefaultIgnorableCodePoint {
            self = .space
        } else if properties.isIdeographic {
            self = .single
        } else if properties.isAlphabetic {
            self = .word
        } else {
            switch properties.generalCategory {
            case .decimalNumber, .letterNumber, .otherNumber, .nonspacingMark, .spacingMark, .enclosingMark,
                .connectorPunctuation:
                self = .word
            default:
                self = .single
            }
        }
    }
}
