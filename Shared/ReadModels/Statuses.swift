public import Events

/// The states the read models record, as types: the projections write them, the queries read
/// them back, and the HTTP APIs and the CLI show their stable codes (`rawValue`).

/// Where a conversation stands (gateway read model).
public enum ConversationStatus: String, Sendable, CaseIterable, Codable {
    case open
    case handedOver = "handed_over"
}

/// Who answers the conversation now (gateway read model).
public enum ConversationOwner: String, Sendable, CaseIterable, Codable {
    case ai, human
}

/// A handover's place in the human queue (`GET /v1/handovers?status=`): the two phases of a
/// conversation before a human has it.
public enum HandoverStatus: String, Sendable, CaseIterable, Codable {
    case requested, queued

    public var phase: ConversationPhase { self == .requested ? .handover : .pendingHuman }
}

/// A case's status (cases read model). A handed-over case keeps that status.
public enum TicketStatus: String, Sendable, CaseIterable, Codable {
    case open
    case awaitingCustomer = "awaiting_customer"
    case answered
    case handedOver = "handed_over"
}

/// A status code read back from a table that no version of this code wrote.
public struct UnknownStatus: Error, CustomStringConvertible {
    public var column: String
    public var value: String
    public var description: String { "\(column) holds '\(value)', which this build does not know" }
}

extension RawRepresentable where RawValue == String {
    /// The case stored as `raw` in `column`, or a clear error.
    static func stored(_ raw: String, column: String) throws -> Self {
        guard let value = Self(rawValue: raw) else { throw UnknownStatus(column: column, value: raw) }
        return value
    }
}

/// An approval's life (hilqueue read model and API), as one explicit state machine: pending
/// until the first of a grant, a denial or the timeout; every decision after that is refused.
public enum ApprovalStatus: String, Sendable, CaseIterable, Codable {
    case pending, granted, denied, expired

    public enum Decision: String, Sendable, CaseIterable {
        case grant, deny, expire
    }

    /// The status after `decision`, or nil when the approval was decided already.
    public func applying(_ decision: Decision) -> ApprovalStatus? {
        guard self == .pending else { return nil }
        switch decision {
        case .grant: return .granted
        case .deny: return .denied
        case .expire: return .expired
        }
    }
}
