/// The coding key of an array element (`Index 3`), shared by `JSONValueEncoder` and
/// `JSONValueDecoder` for coding paths in their errors.
struct JSONIndexKey: CodingKey {
    var stringValue: String { "Index \(index)" }
    var intValue: Int? { index }
    let index: Int
    init(_ index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.index = intValue }
}
