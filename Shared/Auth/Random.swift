/// `a-z0-9`: API key ids and generated kids, readable and case-insensitive-safe.
let lowercaseAlphanumerics = Array("abcdefghijklmnopqrstuvwxyz0123456789")
/// `A-Za-z0-9`: API key secrets; url-safe, and free of `-`/`_` so a double click selects a whole key.
let alphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

/// A random string from `alphabet`. `SystemRandomNumberGenerator` is the operating system's
/// cryptographic generator, and `randomElement` picks without modulo bias.
func randomString(length: Int, alphabet: [Character]) -> String {
    var generator = SystemRandomNumberGenerator()
    var result = ""
    for _ in 0..<length {
        if let character = alphabet.randomElement(using: &generator) {
            result.append(character)
        }
    }
    return result
}

/// Random bytes from the operating system's cryptographic generator.
func randomBytes(count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
}
