import OpenAPIKit
import OpenAPIKit30
import OpenAPIKitCompat
import Yams

/// OpenAPI 3.0 documents are read with OpenAPIKit30 and converted to 3.1 (whose schemas are
/// JSON Schema), in a file of their own: the two modules name the same types.
enum OpenAPI30Conversion {
    static func decode(_ text: String) throws -> OpenAPIKit.OpenAPI.Document {
        try YAMLDecoder().decode(OpenAPIKit30.OpenAPI.Document.self, from: text).convert(to: .v3_1_1)
    }
}
