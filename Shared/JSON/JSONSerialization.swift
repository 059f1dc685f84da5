extension JSONValue {
    /// Compact JSON (no insignificant whitespace), UTF-8.
    ///
    /// With `sortedKeys` (the default) the output is canonical: object members are ordered by
    /// the code points of their keys, integral numbers print without a fraction (`1`, not
    /// `1.0`), other numbers print in the shortest form that reads back to the same `Double`
    /// (`0.1`, `1e-7`, `1.5e300`), and `-0` prints as `0`. Strings escape only `"`, `\` and
    /// control characters; everything else is written as raw UTF-8. Non-finite numbers,
    /// which JSON cannot express and the parser never produces, are written as `null`.
    public func serialized(sortedKeys: Bool = true) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(64)
        Self.write(self, into: &output, sortedKeys: sortedKeys)
        return output
    }

    /// ``serialized(sortedKeys:)`` as a `String`.
    public func serializedString(sortedKeys: Bool = true) -> String {
        String(decoding: serialized(sortedKeys: sortedKeys), as: UTF8.self)
    }

    /// Keys in an order a reader cares about, for text a language model reads or imitates
    /// (grammar engines emit a schema's properties in the order given; a model copies the key
    /// order of examples). Otherwise as `serialized()`.
    public enum KeyOrder: Sendable {
        /// A JSON Schema: each `properties` object lists the schema's `required` names first,
        /// in that order, then the others sorted; every other object sorted.
        case schema
        /// Keys in `ranking` first, in its order, then the others sorted.
        case ranked([String])
    }

    public func serialized(keyOrder: KeyOrder) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        switch keyOrder {
        case .schema: Self.writeOrdered(self, into: &output, ranking: nil, schema: true, first: [])
        case .ranked(let ranking):
            Self.writeOrdered(self, into: &output, ranking: Dictionary(ranking.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a }), schema: false, first: [])
        }
        return output
    }

    public func serializedString(keyOrder: KeyOrder) -> String {
        String(decoding: serialized(keyOrder: keyOrder), as: UTF8.self)
    }

    /// `first`: keys this object writes first, in order (a schema's `required`, for its `properties`).
    private static func writeOrdered(_ value: JSONValue, into output: inout [UInt8], ranking: [String: Int]?, schema: Bool, first: [String]) {
        switch value {
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (offset, element) in elements.enumerated() {
                if offset > 0 { output.append(UInt8(ascii: ",")) }
                writeOrdered(element, into: &output, ranking: ranking, schema: schema, first: [])
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            let sorted = members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            var keys: [String]
            if let ranking {
                keys = sorted.filter { ranking[$0] != nil }.sorted { ranking[$0]! < ranking[$1]! } + sorted.filter { ranking[$0] == nil }
            } else {
                let leading = first.filter { members[$0] != nil }
                keys = leading + sorted.filter { !leading.contains($0) }
            }
            let required = schema ? (members["required"]?.arrayValue ?? []).compactMap(\.stringValue) : []
            output.append(UInt8(ascii: "{"))
            for (index, key) in keys.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                writeString(key, into: &output)
                output.append(UInt8(ascii: ":"))
                writeOrdered(members[key]!, into: &output, ranking: ranking, schema: schema, first: key == "properties" ? required : [])
            }
            output.append(UInt8(ascii: "}"))
        default:
            write(value, into: &output, sortedKeys: true)
        }
    }

    private static func write(_ value: JSONValue, into output: inout [UInt8], sortedKeys: Bool) {
        switch value {
        case .null:
            output.append(contentsOf: "null".utf8)
        case .bool(let flag):
            output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let number):
            output.append(contentsOf: formatNumber(number).utf8)
        case .string(let string):
            writeString(string, into: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (offset, element) in elements.enumerated() {
                if offset > 0 { output.append(UInt8(ascii: ",")) }
                write(element, into: &output, sortedKeys: sortedKeys)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            var first = true
            func member(_ key: String, _ member: JSONValue) {
                if !first { output.append(UInt8(ascii: ",")) }
                first = false
                writeString(key, into: &output)
                output.append(UInt8(ascii: ":"))
                write(member, into: &output, sortedKeys: sortedKeys)
            }
            if sortedKeys {
                // UTF-8 byte order equals code point order and ignores Unicode normalisation.
                for key in members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                    member(key, members[key]!)
                }
            } else {
                for (key, value) in members { member(key, value) }
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Shortest round-trip text for a finite double, in JSON number syntax.
    static func formatNumber(_ number: Double) -> String {
        guard number.isFinite else { return "null" }
        if number.rounded(.towardZero) == number, abs(number) < 9.0e18 {
            return String(Int64(number))
        }
        // Swift's description is the shortest representation that round-trips; normalise
        // its exponent ("1e-07" -> "1e-7", "1e+20" -> "1e20").
        let text = number.description
        guard let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return text }
        let mantissa = text[..<e]
        var exponentText = text[text.index(after: e)...]
        if exponentText.first == "+" { exponentText = exponentText.dropFirst() }
        let exponent = Int(exponentText) ?? 0
        return "\(mantissa)e\(exponent)"
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    /// Copies runs of bytes that need no escape in one go: a per-byte append checks the array's
    /// uniqueness and capacity every time, which dominated encode profiles.
    private static func writeString(_ string: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): output.append(contentsOf: [0x5C, 0x22])
                case UInt8(ascii: "\\"): output.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0x08: output.append(contentsOf: [0x5C, UInt8(ascii: "b")])
                case 0x0C: output.append(contentsOf: [0x5C, UInt8(ascii: "f")])
                default:
                    output.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hexDigit(byte >> 4), hexDigit(byte & 0xF)])
                }
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
        }
        output.append(UInt8(ascii: "\""))
    }
}
