/// Failures of this module. `code` is the stable category to switch on. Database failures are
/// not wrapped: `KnowledgeIndex` rethrows `PostgresError` unchanged (it already carries a code,
/// SQLSTATE and `isRetriable`). Messages name files by their path relative to the ingested
/// directory and never include file contents.
public struct KnowledgeError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The ingest directory does not exist, is not a directory, or cannot be listed.
        case directoryUnreadable
        /// A file could not be opened or read (permissions, vanished during the walk…).
        case fileUnreadable
        /// A file is larger than the loader's size limit.
        case fileTooLarge
        /// A file is not valid UTF-8.
        case notUTF8
        /// A file contains NUL bytes (binary data; Postgres text cannot store it).
        case binaryContent
        /// A matching name that is not a regular file (symlink, socket…); symlinks are not
        /// followed so a knowledge directory cannot pull in files from elsewhere.
        case unsupportedFileType
        /// More candidate files than the loader's `maxFiles`; the rest were not loaded.
        case tooManyFiles
        /// The directory held no loadable file at all; ingest refuses to evict everything.
        case emptySource
        /// Invalid chunker settings or inconsistent arguments (e.g. chunks of another document).
        case invalidArgument
    }

    public var code: Code
    /// Path relative to the ingested directory, when the error concerns one file.
    public var path: String?
    /// The id the file's document has (or would have), so callers can keep it from eviction.
    public var documentId: String?
    public var message: String

    public init(code: Code, path: String? = nil, documentId: String? = nil, message: String) {
        self.code = code
        self.path = path
        self.documentId = documentId
        self.message = message
    }

    /// Only read failures can succeed on a later attempt; bad content stays bad until edited.
    public var isRetriable: Bool {
        switch code {
        case .directoryUnreadable, .fileUnreadable: return true
        case .fileTooLarge, .notUTF8, .binaryContent, .unsupportedFileType, .tooManyFiles, .emptySource,
            .invalidArgument:
            return false
        }
    }

    public var description: String {
        var text = "KnowledgeError.\(code.rawValue)"
        if let path { text += " [\(path)]" }
        return text + ": " + message
    }
}
