/// A model's token prices, held exactly.
///
/// Catalogs state USD per million tokens. 1 USD per million tokens is 1 micro-dollar per token,
/// i.e. 10^6 pico-dollars per token, so a price with up to six decimals (`0.15`, `2.500001`) is
/// an exact integer number of pico-dollars per token and no binary floating point is involved.
///
/// Rounding: a call's cost is summed exactly in pico-dollars (input + output) and rounded
/// ONCE to micro-dollars, half up (`185.5 µ$ -> 186`, `185.4999 -> 185`). Example: 1234 input
/// tokens at $0.15/M = 185_100_000 p$ = 185.1 µ$ -> 185 µ$.
public struct ModelPrice: Sendable, Hashable {
    public static let picosPerMicro: Int64 = 1_000_000
    /// Highest accepted price: USD 1,000,000 per million tokens (keeps products far from overflow).
    public static let maxPicosPerToken: Int64 = 1_000_000 * picosPerMicro

    public var inputPicosPerToken: Int64
    public var outputPicosPerToken: Int64

    public static let free = ModelPrice(inputPicosPerToken: 0, outputPicosPerToken: 0)

    public init(inputPicosPerToken: Int64, outputPicosPerToken: Int64) {
        precondition((0...Self.maxPicosPerToken).contains(inputPicosPerToken)
                     && (0...Self.maxPicosPerToken).contains(outputPicosPerToken), "price out of range")
        self.inputPicosPerToken = inputPicosPerToken
        self.outputPicosPerToken = outputPicosPerToken
    }

    /// Prices as decimal text in USD per million tokens (`"0.15"`); nil if either is not a
    /// plain non-negative decimal with at most six fractional digits.
    public init?(inputPerMillionUSD: String, outputPerMillionUSD: String) {
        guard case .success(let input) = Self.picosPerToken(usdPerMillion: inputPerMillionUSD),
              case .success(let output) = Self.picosPerToken(usdPerMillion: outputPerMillionUSD)
        else { return nil }
        self.init(inputPicosPerToken: input, outputPicosPerToken: output)
    }

    /// Exact cost in pico-dollars; saturates at `Int64.max` (unreachable with sane token counts).
    /// Negative token counts count as zero.
    public func costPicos(inputTokens: Int, outputTokens: Int) -> Int64 {
        let (inPart, o1) = Int64(max(0, inputTokens)).multipliedReportingOverflow(by: inputPicosPerToken)
        let (outPart, o2) = Int64(max(0, outputTokens)).multipliedReportingOverflow(by: outputPicosPerToken)
        let (sum, o3) = inPart.addingReportingOverflow(outPart)
        return o1 || o2 || o3 ? .max : sum
    }

    /// Cost in micro-dollars, rounded half up once per call (see the type's documentation).
    public func costMicros(inputTokens: Int, outputTokens: Int) -> Int64 {
        let picos = costPicos(inputTokens: inputTokens, outputTokens: outputTokens)
        // Written so that Int64.max does not overflow: q + (r >= half).
        let (quotient, remainder) = picos.quotientAndRemainder(dividingBy: Self.picosPerMicro)
        return quotient + (remainder >= Self.picosPerMicro / 2 ? 1 : 0)
    }

    /// Why a price text was refused.
    enum PriceTextError: Error, Equatable {
        case notANumber
        case negative
        case tooPrecise
        case tooLarge
    }

    /// Parses `"12"`, `"0.15"`, `"+1.5"`, `"3."`, `".5"`, with up to six fractional digits
    /// (trailing zeros beyond six are fine). No exponents: a price should read plainly.
    static func picosPerToken(usdPerMillion text: String) -> Result<Int64, PriceTextError> {
        var bytes = Substring(text)
        if bytes.first == "+" { bytes = bytes.dropFirst() }
        if bytes.first == "-" {
            let rest = bytes.dropFirst()
            return rest.contains(where: { $0.isASCIIDigitOrDot }) && rest.allSatisfy({ $0.isASCIIDigitOrDot })
                ? .failure(.negative) : .failure(.notANumber)
        }
        let parts = bytes.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        var fraction = parts.count > 1 ? parts[1] : ""
        guard !(whole.isEmpty && fraction.isEmpty),
              whole.allSatisfy(\.isASCIIDigit), fraction.allSatisfy(\.isASCIIDigit)
        else { return .failure(.notANumber) }
        while fraction.count > 6, fraction.last == "0" { fraction = fraction.dropLast() }
        guard fraction.count <= 6 else { return .failure(.tooPrecise) }
        let wholeDigits = whole.drop(while: { $0 == "0" })
        guard wholeDigits.count <= 7, let wholeValue = Int64(wholeDigits.isEmpty ? "0" : String(wholeDigits)) else {
            return .failure(.tooLarge)
        }
        let fractionValue = Int64(String(fraction) + String(repeating: "0", count: 6 - fraction.count))!
        let picos = wholeValue * picosPerMicro + fractionValue
        guard picos <= maxPicosPerToken else { return .failure(.tooLarge) }
        return .success(picos)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
    fileprivate var isASCIIDigitOrDot: Bool { self == "." || isASCIIDigit }
}
