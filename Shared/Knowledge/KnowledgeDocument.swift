import Crypto
public import Foundation

/// One source file of the knowledge base. `text` is the file decoded as UTF-8 with a leading
/// BOM removed and line endings normalised to `\n`; chunk offsets refer to it.
/// `contentHash` covers the raw file bytes, so any edit (even line endings) re-indexes.
public struct KnowledgeDocument: Sendable, Hashable, Identifiable {
    /// Derived from `source` only, so it survives edits and differs between files.
    public var id: String
    public var title: String
    /// Path relative to the ingested directory, `/`-separated.
    public var source: String
    public var text: String
    /// Lowercase hex SHA-256 of the file bytes.
    public var contentHash: String
    /// The file's modification time, when the file system reports one.
    public var updatedAt: Date?

    public init(id: String, title: String, source: String, text: String, contentHash: String, updatedAt: Date? = nil) {
        self.id = id
        self.title = title
        self.source = source
        self.text = text
        self.contentHash = contentHash
        self.updatedAt = updatedAt
    }

    /// Builds a document from in-memory text (tests, other sources): id from `source`, title
    /// from the first `# ` heading or the file name, hash of the UTF-8 bytes of `text`.
    public init(source: String, text: String, updatedAt: Date? = nil) {
        let normalized = KnowledgeDocumentLoader.normalizeLineEndings(text)
        self.init(
            id: Self.id(forSource: source),
            title: Markdown.title(of: normalized) ?? Self.fileTitle(source),
            source: source,
            text: normalized,
            contentHash: sha256Hex(Array(text.utf8)),
            updatedAt: updatedAt)
    }

    /// `doc_` + 128 bits of SHA-256 over the relative path: stable across runs and machines,
    /// free of characters that need quoting, and without collisions between similar paths
    /// (which a slug like `a-b.md` vs `a/b.md` would have).
    public static func id(forSource source: String) -> String {
        "doc_" + sha256Hex(Array("knowledge.document:\(source)".utf8)).prefix(32)
    }

    static func fileTitle(_ source: String) -> String {
        let name = source.split(separator: "/").last.map(String.init) ?? source
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }
}

/// What one directory walk produced: the documents that loaded, and one error per file that
/// did not (the walk never stops at a bad file).
public struct KnowledgeLoadResult: Sendable {
    public var documents: [KnowledgeDocument]
    public var errors: [KnowledgeError]
    /// Ids of every knowledge file found, loaded or not (see `KnowledgeDirectoryListing`).
    public var presentDocumentIds: Set<String>
}

/// The knowledge files of a directory, found but not read yet.
public struct KnowledgeDirectoryListing: Sendable {
    /// Standardised absolute path of the directory.
    public var root: String
    /// Relative paths to load, sorted; at most `maxFiles`.
    public var files: [String]
    /// Entries that cannot be loaded (links, unreadable subdirectories, too many files).
    public var errors: [KnowledgeError]
    /// Ids of every matching entry, loadable or not: ingest keeps these from eviction, so a
    /// file that is present but unreadable (or over the file limit) keeps its indexed version.
    public var presentDocumentIds: Set<String>
}

/// Walks a directory for knowledge files. Blocking file I/O: call it from a thread you own or
/// via `KnowledgeIndex.ingest`, which runs it off Swift's cooperative pool.
///
/// Order is deterministic (sorted by relative path). Hidden entries (leading `.`) are skipped,
/// and symbolic links are never followed (reported as `.unsupportedFileType` when the name
/// matches), so a walk stays inside the directory and cannot loop.
public struct KnowledgeDocumentLoader: Sendable {
    public static let defaultExtensions: Set<String> = ["md", "markdown", "txt"]

    /// Files larger than this are rejected (default 1 MiB).
    public var maxFileBytes: Int
    /// Candidate files beyond this count are not loaded (one `.tooManyFiles` error).
    public var maxFiles: Int
    /// Lowercased extensions, without the dot.
    public var extensions: Set<String>

    public init(maxFileBytes: Int = 1 << 20, maxFiles: Int = 10_000, extensions: Set<String> = Self.defaultExtensions) {
        self.maxFileBytes = maxFileBytes
        self.maxFiles = maxFiles
        self.extensions = Set(extensions.map { $0.lowercased() })
    }

    /// Lists and loads every file. Holds all documents in memory at once; `KnowledgeIndex.ingest`
    /// instead loads one file at a time from `list`.
    public func load(directory: URL) throws(KnowledgeError) -> KnowledgeLoadResult {
        let listing = try list(directory: directory)
        var result = KnowledgeLoadResult(
            documents: [], errors: listing.errors, presentDocumentIds: listing.presentDocumentIds)
        for relative in listing.files {
            switch loadFile(relative, in: listing) {
            case .success(let document): result.documents.append(document)
            case .failure(let error): result.errors.append(error)
            }
        }
        result.errors.sort { ($0.path ?? "").utf8.lexicographicallyPrecedes(($1.path ?? "").utf8) }
        return result
    }

    /// Finds the knowledge files. Throws `.directoryUnreadable` only when `directory` itself
    /// cannot be listed; every other problem lands in `errors`.
    public func list(directory: URL) throws(KnowledgeError) -> KnowledgeDirectoryListing {
        let root = directory.standardizedFileURL.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw KnowledgeError(
                code: .directoryUnreadable, message: "the knowledge directory does not exist or is not a directory")
        }
        var errors: [KnowledgeError] = []
        var candidates: [String] = []
        do {
            try collect(root: root, relative: "", into: &candidates, errors: &errors)
        } catch {
            throw KnowledgeError(
                code: .directoryUnreadable,
                message: "cannot list the knowledge directory: \(error.localizedDescription)")
        }
        candidates.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let present = Set(candidates.map(KnowledgeDocument.id(forSource:))).union(errors.compactMap(\.documentId))
        if candidates.count > maxFiles {
            errors.append(
                KnowledgeError(
                    code: .tooManyFiles,
                    message:
                        "\(candidates.count) knowledge files found; only the first \(maxFiles) (by path) were loaded"))
            candidates.removeLast(candidates.count - maxFiles)
        }
        return KnowledgeDirectoryListing(root: root, files: candidates, errors: errors, presentDocumentIds: present)
    }

    private func matches(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return false }
        return extensions.contains(name[name.index(after: dot)...].lowercased())
    }

    /// Depth-first walk using lstat semantics (attributesOfItem does not follow links).
    private func collect(
        root: String, relative: String, into candidates: inout [String], errors: inout [KnowledgeError]
    ) throws {
        let absolute = relative.isEmpty ? root : root + "/" + relative
        let names = try FileManager.default.contentsOfDirectory(atPath: absolute)
        for name in names where !name.hasPrefix(".") {
            let childRelative = relative.isEmpty ? name : relative + "/" + name
            let type: FileAttributeType
            do {
                let attributes = try FileManager.default.attributesOfItem(atPath: root + "/" + childRelative)
                type = (attributes[.type] as? FileAttributeType) ?? .typeUnknown
            } catch {
                if matches(name) {
                    errors.append(fileError(.fileUnreadable, childRelative, "cannot stat the file"))
                }
                continue
            }
            switch type {
            case .typeDirectory:
                do {
                    try collect(root: root, relative: childRelative, into: &candidates, errors: &errors)
                } catch {
                    errors.append(
                        KnowledgeError(
                            code: .fileUnreadable, path: childRelative, message: "cannot list the subdirectory"))
                }
            case .typeRegular:
                if matches(name) { candidates.append(childRelative) }
            default:
                if matches(name) {
                    errors.append(
                        fileError(
                            .unsupportedFileType, childRelative, "not a regular file (symbolic links are not followed)")
                    )
                }
            }
        }
    }

    private func fileError(_ code: KnowledgeError.Code, _ relative: String, _ message: String) -> KnowledgeError {
        KnowledgeError(
            code: code, path: relative, documentId: KnowledgeDocument.id(forSource: relative), message: message)
    }

    /// Reads one listed file; every failure is a per-file error.
    public func loadFile(_ relative: String, in listing: KnowledgeDirectoryListing) -> Result<
        KnowledgeDocument, KnowledgeError
    > {
        let path = listing.root + "/" + relative
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return .failure(fileError(.fileUnreadable, relative, "cannot open the file"))
        }
        defer { try? handle.close() }
        let bytes: Data
        do {
            // One byte past the limit is enough to know the file is too large, and bounds
            // memory even if the file grows between the stat and the read.
            bytes = try handle.read(upToCount: maxFileBytes + 1) ?? Data()
        } catch {
            return .failure(fileError(.fileUnreadable, relative, "cannot read the file"))
        }
        if bytes.count > maxFileBytes {
            return .failure(
                fileError(
                    .fileTooLarge, relative, "the file is larger than the \(Self.describeBytes(maxFileBytes)) limit"))
        }
        guard var text = String(validating: bytes, as: UTF8.self) else {
            return .failure(fileError(.notUTF8, relative, "the file is not valid UTF-8"))
        }
        if bytes.contains(0) {
            return .failure(fileError(.binaryContent, relative, "the file contains NUL bytes (binary data?)"))
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        text = Self.normalizeLineEndings(text)
        let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        return .success(
            KnowledgeDocument(
                id: KnowledgeDocument.id(forSource: relative),
                title: Markdown.title(of: text) ?? KnowledgeDocument.fileTitle(relative),
                source: relative,
                text: text,
                contentHash: sha256Hex(Array(bytes)),
                updatedAt: modified))
    }

    static func normalizeLineEndings(_ text: String) -> String {
        guard text.utf8.contains(UInt8(ascii: "\r")) else { return text }
        return text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }

    private static func describeBytes(_ count: Int) -> String {
        if count >= 1 << 20, count % (1 << 20) == 0 { return "\(count >> 20) MiB" }
        if count >= 1 << 10, count % (1 << 10) == 0 { return "\(count >> 10) KiB" }
        return "\(count)-byte"
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    let digest = SHA256.hash(data: bytes)
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(64)
    for byte in digest {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
