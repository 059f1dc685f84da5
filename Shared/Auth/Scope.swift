/// A permission a caller may hold. The raw values are the OAuth-style scope strings that
/// travel in a token's `scope` claim and are stored with API keys.
public enum Scope: String, CaseIterable, Sendable, Codable, Hashable {
    /// Send messages into a conversation (customers, tenant backends).
    case chatSend = "chat:send"
    /// Read conversations and their history.
    case conversationsRead = "conversations:read"
    /// Work the human-in-the-loop queue as an agent.
    case hilAgent = "hil:agent"
    /// Administer the human-in-the-loop queue (skills, capacity, reassignments).
    case hilAdmin = "hil:admin"
    /// Read analytics and KPIs.
    case analyticsRead = "analytics:read"
    /// Everything within the tenant: implies every other scope.
    case admin

    /// Parses an OAuth-style space-separated scope string.
    ///
    /// Unknown scope strings are ignored rather than rejected, as OAuth servers and clients
    /// do: a token minted by a newer issuer that knows more scopes still works here, it just
    /// grants nothing this build does not understand.
    public static func parse(_ scopeString: some StringProtocol) -> Set<Scope> {
        var scopes = Set<Scope>()
        for word in scopeString.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            if let scope = Scope(rawValue: String(word)) {
                scopes.insert(scope)
            }
        }
        return scopes
    }

    /// Renders scopes as one space-separated string, sorted so equal sets give equal strings.
    public static func render(_ scopes: Set<Scope>) -> String {
        scopes.map(\.rawValue).sorted().joined(separator: " ")
    }
}

extension Set where Element == Scope {
    /// Whether these scopes permit `scope`. `admin` permits everything; no other scope
    /// implies another (`hil:admin` does not imply `hil:agent`: grant both when both are meant).
    public func allows(_ scope: Scope) -> Bool {
        contains(scope) || contains(.admin)
    }
}
