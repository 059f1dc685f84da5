/// How a tool maps onto an HTTP endpoint (the `http` binding of a tool contract).
///
/// `{name}` in the URL template takes the argument of that name, percent-encoded. The other
/// arguments go in the query string for GET and DELETE, and as a JSON object body otherwise.
/// The secret for `auth` is read from the environment variable it names when a call is made;
/// it is never part of the contract.
public struct HTTPBinding: Sendable, Equatable {
    public struct Auth: Sendable, Hashable {
        /// Header that carries the secret, e.g. `Authorization`.
        public var header: String
        /// Prefix before the secret, e.g. `Bearer`; nil sends the secret alone.
        public var scheme: String?
        /// Environment variable holding the secret.
        public var secretEnv: String
        public init(header: String = "Authorization", scheme: String? = "Bearer", secretEnv: String) {
            (self.header, self.scheme, self.secretEnv) = (header, scheme, secretEnv)
        }
    }

    public var method: String
    public var urlTemplate: String
    public var headers: [String: String]
    public var auth: Auth?
    /// Set for operations described by an OpenAPI document: these arguments go in the query
    /// string whatever the method, and the body is the argument `bodyArgument` (absent: no
    /// body). Nil keeps the default split described above.
    public var query: [String]?
    public var bodyArgument: String?

    public init(
        method: String, urlTemplate: String, headers: [String: String] = [:], auth: Auth? = nil,
        query: [String]? = nil, bodyArgument: String? = nil
    ) {
        self.method = method.uppercased()
        self.urlTemplate = urlTemplate
        self.headers = headers
        self.auth = auth
        self.query = query
        self.bodyArgument = bodyArgument
    }
}
