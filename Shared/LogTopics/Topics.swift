/// Topic names of the log (DESIGN.md §3). The conversation log holds every event of every
/// conversation, keyed by conversation id; the dead-letter topic holds what could not be handled.
public enum Topics {
    public static let conversations = "switchboard.conversations.v1"
    public static let deadLetter = "switchboard.deadletter.v1"
    /// Knowledge documents (`switchboard kb ingest`), keyed by `kb:<collection>`.
    public static let knowledge = "switchboard.knowledge.v1"
}
