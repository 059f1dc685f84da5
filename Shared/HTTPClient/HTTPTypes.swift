/// An ordered list of HTTP header fields.
///
/// Order and duplicates are preserved (both matter on the wire, e.g. repeated
/// `Set-Cookie`); lookups by name are ASCII case-insensitive.
public struct HTTPHeaders: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public struct Field: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public private(set) var fields: [Field]

    public init() {
        self.fields = []
    }

    public init(_ fields: [(name: String, value: String)]) {
        self.fields = fields.map { Field(name: $0.name, value: $0.value) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.fields = elements.map { Field(name: $0.0, value: $0.1) }
    }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }

    public mutating func add(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// Removes every field called `name`, then adds one.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    public mutating func remove(name: String) {
        fields.removeAll { asciiCaseInsensitiveEquals($0.name, name) }
    }

    /// The first value of the field called `name`, compared case-insensitively.
    public subscript(name: String) -> String? {
        fields.first { asciiCaseInsensitiveEquals($0.name, name) }?.value
    }

    /// All values of the field called `name`, in wire order.
    public func values(for name: String) -> [String] {
        fields.filter { asciiCaseInsensitiveEquals($0.name, name) }.map(\.value)
    }

    public func contains(name: String) -> Bool {
        self[name] != nil
    }

    public func makeIterator() -> IndexingIterator<[Field]> {
        fields.makeIterator()
    }

    /// For obsolete header line folding while parsing responses.
    mutating func appendToLastValue(_ text: String) {
        guard !fields.isEmpty else { return }
        fields[fields.count - 1].value += text
    }
}

/// One outbound HTTP request. `url` must be http or https; anything else is
/// refused by libcurl's protocol allow-list (`HTTPClientError.Code.invalidRequest`).
public struct HTTPRequest: Sendable, CustomStringConvertible {
    public var method: String
    public var url: String
    public var headers: HTTPHeaders
    /// Sent as-is. Without a `Content-Type` header no content type is sent
    /// (libcurl's form-urlencoded default is suppressed).
    public var body: [UInt8]?
    /// Whole-transfer limit, including connect and reading the body.
    public var timeout: Duration
    public var connectTimeout: Duration
    /// Responses whose (decoded) body would exceed this fail with `.tooLarge`.
    public var maxResponseBytes: Int
    /// Off by default: callers of LLM/tool APIs should see 3xx responses.
    /// When on, at most 5 hops, http/https only.
    public var followRedirects: Bool

    public init(
        method: String = "GET",
        url: String,
        headers: HTTPHeaders = [:],
        body: [UInt8]? = nil,
        timeout: Duration = .seconds(60),
        connectTimeout: Duration = .seconds(10),
        maxResponseBytes: Int = 8 * 1024 * 1024,
        followRedirects: Bool = false
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.maxResponseBytes = maxResponseBytes
        self.followRedirects = followRedirects
    }

    /// Method and host only: paths, queries and header values may carry credentials.
    public var description: String {
        "HTTPRequest(\(method) \(hostForLogging(url)), \(headers.count) headers, \(body?.count ?? 0) body bytes)"
    }
}

/// A complete HTTP response. Any status (including 4xx/5xx) is a response,
/// not an error: the caller decides what to retry.
public struct HTTPResponse: Sendable, CustomStringConvertible {
    public var status: Int
    /// Headers of the final response only (interim 1xx / redirect hops are dropped).
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// From the start of the request to the first byte of the body: for a streamed answer,
    /// the time to its first chunk. nil for an empty body.
    public var firstBodyByteAfter: Duration?

    public init(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Status and sizes only: bodies may hold user data or tokens.
    public var description: String {
        "HTTPResponse(status: \(status), \(headers.count) headers, \(body.count) body bytes)"
    }

    /// First value of header `name`, case-insensitive (e.g. `header("retry-after")`).
    public func header(_ name: String) -> String? {
        headers[name]
    }
}

func asciiCaseInsensitiveEquals(_ lhs: String, _ rhs: String) -> Bool {
    let l = lhs.utf8
    let r = rhs.utf8
    guard l.count == r.count else { return false }
    return zip(l, r).allSatisfy { asciiLower($0) == asciiLower($1) }
}

private func asciiLower(_ byte: UInt8) -> UInt8 {
    (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
}
