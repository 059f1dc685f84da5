import JSON
import JSONSchema
import Testing

/// `format` with assertion on: each supported format's valid and invalid strings, and the same
/// strings accepted when `format` is only an annotation.
@Suite struct FormatAssertionTests {
    static let cases: [(format: String, valid: [String], invalid: [String])] = [
        ("date-time",
         ["2026-12-04T23:45:06Z", "2026-12-04t23:45:06.123z", "2024-02-29T00:00:00+05:30", "1998-12-31T23:59:60Z", "1998-12-31T15:59:60-08:00"],
         ["2026-12-04 23:45:06Z", "2026-12-04T23:45:06", "2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-04T24:00:00Z",
          "2026-12-04T12:00:60Z", "2026-12-04T23:45:06+5:30", "2026-12-04T23:45:06.Z", "٢٠٢٦-12-04T23:45:06Z"]),
        ("date", ["2026-12-04", "2000-02-29", "1900-02-28"], ["2026-12-4", "1900-02-29", "2026-00-10", "2026-04-31", "20261204", "2026-12-04T00:00:00Z"]),
        ("time", ["23:59:59Z", "08:30:00.5+01:00", "23:59:60Z"], ["23:59:59", "24:00:00Z", "12:60:00Z", "22:59:60Z", "8:30:00Z"]),
        ("email",
         ["joe@example.com", "first.last+tag@sub.example.co.uk", "\"joe bloggs\"@example.com", "joe@[192.168.0.1]", "joe@[IPv6:2001:db8::1]"],
         ["joe", "@example.com", "joe@", ".joe@example.com", "joe.@example.com", "jo..e@example.com", "joe@-example.com", "joe@exa mple.com", "joe@[300.1.1.1]"]),
        ("uuid",
         ["2eb8aa08-aa98-11ea-b4aa-73b441d16380", "2EB8AA08-AA98-11EA-B4AA-73B441D16380", "00000000-0000-0000-0000-000000000000"],
         ["2eb8aa08aa9811eab4aa73b441d16380", "2eb8aa08-aa98-11ea-b4aa-73b441d1638", "2eb8aa08-aa98-11ea-b4aa-73b441d1638g", "{2eb8aa08-aa98-11ea-b4aa-73b441d16380}"]),
        ("uri",
         ["https://example.com/a/b?c=d#e", "mailto:joe@example.com", "urn:isbn:0451450523", "http://[2001:db8::1]:8080/x", "http://192.168.0.1:80/", "ftp://user@host/%20file"],
         ["//example.com/a", "/relative/path", "1http://x", "http://exa mple.com/", "http://example.com/%zz", "https://example.com/a#b#c", "http://[2001:db8::zz]/"]),
        ("ipv4", ["192.168.0.1", "0.0.0.0", "255.255.255.255"], ["256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.a", "1.2.3.4 ", "١.2.3.4"]),
        ("ipv6",
         ["::1", "::", "2001:db8::1", "fe80:0:0:0:204:61ff:fe9d:f156", "::ffff:192.168.0.1", "1:2:3:4:5:6:7:8", "1::8"],
         ["1:2:3:4:5:6:7:8:9", "1::2::3", "12345::1", "::ffff:999.1.1.1", "fe80::1%eth0", "1:2:3:4:5:6:7::8", ":1", "g::1"]),
    ]

    @Test(arguments: cases.map(\.format))
    func assertedWhenAskedAnnotatedOtherwise(format: String) throws {
        let entry = try #require(Self.cases.first { $0.format == format })
        let asserting = try JSONSchema(["type": "string", "format": .string(format)], options: .init(formatAssertion: true))
        let annotating = try JSONSchema(["type": "string", "format": .string(format)])
        for text in entry.valid {
            #expect(asserting.isValid(.string(text)), "\(format) should accept \(text)")
        }
        for text in entry.invalid {
            let result = asserting.validate(.string(text))
            #expect(!result.isValid, "\(format) should refuse \(text)")
            #expect(result.errors.first.map { "\($0)" }?.contains("not a valid \(format)") == true, "\(result.errors)")
            #expect(annotating.isValid(.string(text)), "without assertion \(format) is an annotation")
        }
    }

    @Test func nonStringsAndUnknownFormatsPass() throws {
        let schema = try JSONSchema(["format": "email"], options: .init(formatAssertion: true))
        #expect(schema.isValid(12) && schema.isValid(["a": 1]) && schema.isValid(.null))
        let unknown = try JSONSchema(["format": "credit-card"], options: .init(formatAssertion: true))
        #expect(unknown.isValid("anything"))
    }
}
