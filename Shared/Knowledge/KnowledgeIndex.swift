import Dispatch
public import Foundation
public import Logging
public import Postgres

/// What `upsert` did.
public enum KnowledgeUpsertOutcome: String, Sendable, Hashable {
    /// First time this document id was stored.
    case inserted
    /// Content or chunking changed, or an evicted document came back: chunks replaced, version bumped.
    case updated
    /// Same content hash, chunks, title and source: nothing was written.
    case unchanged
}

/// Which first-stage query produced the candidates.
public enum KnowledgeMatchMode: String, Sendable, Hashable {
    /// `websearch_to_tsquery`: every query term (respecting quotes, `or`, `-`) matched.
    case allTerms
    /// Fallback when the AND query matched nothing: any of the query's lexemes.
    case anyTerm
    /// Neither matched (or the query had no searchable words).
    case none
}

/// A search with its intermediate stages, for diagnostics and tests.
public struct KnowledgeRetrieval: Sendable {
    public var mode: KnowledgeMatchMode
    /// First-stage candidates in `ts_rank_cd` order.
    public var candidates: [KnowledgeHit]
    /// Reranked, best first.
    public var hits: [KnowledgeHit]
}

/// The stored state of one document.
public struct KnowledgeDocumentRecord: Sendable, Hashable {
    public var documentId: String
    public var title: String
    public var source: String
    public var contentHash: String
    /// 1 on insert, +1 on every content/chunking change or return after eviction.
    public var version: Int
    public var ingestedAt: Date
    public var deleted: Bool
    public var chunkCount: Int
}

/// What one `ingest` run did; document ids per outcome, in path order.
public struct KnowledgeIngestReport: Sendable {
    public var inserted: [String] = []
    public var updated: [String] = []
    public var unchanged: [String] = []
    public var evicted: [String] = []
    /// Files that could not be loaded. Their previously indexed version (if any) is kept.
    public var errors: [KnowledgeError] = []
}

/// The knowledge base in Postgres: documents and their chunks in one schema (default
/// `knowledge`), full-text search over chunks, and a reranking second stage.
///
/// Search is two-stage: Postgres returns up to `candidates` chunks ranked by `ts_rank_cd`
/// over `tsv` (heading weighted A, text B), using `websearch_to_tsquery('english', query)`
/// and, when that AND query matches nothing, an OR of the query's lexemes (customers write
/// whole sentences, which rarely match every word). The reranker then keeps the best `limit`.
///
/// Database errors are rethrown as `PostgresError`; argument problems as `KnowledgeError`.
public struct KnowledgeIndex: Sendable {
    public let pool: PostgresPool
    public let schema: String
    public let reranker: any KnowledgeReranker
    private let logger: Logger

    /// Longer queries are cut (at a word boundary) to bound the work of the OR fallback.
    public static let maxQueryCharacters = 1_000

    /// Throws `.invalidQuery` if `schema` is not a plain SQL identifier.
    public init(
        pool: PostgresPool, schema: String = "knowledge", reranker: any KnowledgeReranker = LexicalReranker(),
        logger: Logger
    ) throws(PostgresError) {
        _ = try PostgresQuery.quotedIdentifier(schema)
        self.pool = pool
        self.schema = schema
        self.reranker = reranker
        self.logger = logger
    }

    /// Schema-independent: `migrate` runs them with `search_path` set to the schema.
    public static let migrations: [Migration] = [
        Migration(
            version: 1, name: "knowledge documents and chunks",
            sql: """
                CREATE TABLE documents (
                    document_id text PRIMARY KEY,
                    title text NOT NULL,
                    source text NOT NULL,
                    content_hash text NOT NULL,
                    chunks_hash text NOT NULL,
                    version bigint NOT NULL DEFAULT 1,
                    updated_at timestamptz,
                    ingested_at timestamptz NOT NULL DEFAULT now(),
                    deleted boolean NOT NULL DEFAULT false,
                    deleted_at timestamptz
                );
                CREATE TABLE chunks (
                    chunk_id text PRIMARY KEY,
                    document_id text NOT NULL REFERENCES documents (document_id) ON DELETE CASCADE,
                    ordinal integer NOT NULL,
                    heading text,
                    text text NOT NULL,
                    token_count integer NOT NULL,
                    tsv tsvector GENERATED ALWAYS AS (
                        setweight(to_tsvector('english', coalesce(heading, '')), 'A')
                        || setweight(to_tsvector('english', text), 'B')
                    ) STORED,
                    UNIQUE (document_id, ordinal)
                );
                CREATE INDEX chunks_tsv ON chunks USING GIN (tsv);
                """)
    ]

    /// Creates or upgrades the schema (idempotent, safe for concurrent replicas).
    public func migrate() async throws {
        try await Postgres.migrate(pool, schema: schema, migrations: Self.migrations, logger: logger)
    }

    // MARK: - Writing

    /// Stores `document` with exactly `chunks` (all of its previous chunks are replaced) in one
    /// transaction. Nothing is written when the content hash, the chunk set, title and source
    /// are all unchanged, so re-ingesting is cheap and keeps `version`/`ingestedAt`.
    @discardableResult
    public func upsert(_ document: KnowledgeDocument, chunks: [KnowledgeChunk]) async throws -> KnowledgeUpsertOutcome {
        try Self.validate(document, chunks)
        let schema = self.schema
        let now = Date()
        let outcome = try await pool.transaction { connection in
            try Self.store(document, chunks: chunks, schema: schema, at: now, on: connection)
        }
        if outcome != .unchanged {
            logger.debug(
                "knowledge document stored",
                metadata: ["document": "\(document.id)", "outcome": "\(outcome.rawValue)", "chunks": "\(chunks.count)"])
        }
        return outcome
    }

    /// `upsert` inside the caller's transaction, with the time it happened given (a
    /// projection passes the event's time, so a rebuild writes the same rows).
    public static func store(
        _ document: KnowledgeDocument, chunks: [KnowledgeChunk], schema: String, at time: Date, on connection: PostgresConnection
    ) throws -> KnowledgeUpsertOutcome {
        try validate(document, chunks)
        let chunksHash = sha256Hex(Array(chunks.map(\.id).joined(separator: "\n").utf8))
        let rows: [[String?]] = chunks.map { chunk in
            [
                chunk.id, chunk.documentId, String(chunk.ordinal),
                breadcrumb(title: document.title, path: chunk.headingPath),
                chunk.text, String(chunk.tokenCount),
            ]
        }
        let copySQL =
            "COPY \(try PostgresQuery.quotedIdentifier(schema)).chunks "
            + "(chunk_id, document_id, ordinal, heading, text, token_count) FROM STDIN"
        let existing = try connection.query(
            """
            SELECT content_hash, chunks_hash, title, source, deleted FROM \(identifier: schema).documents
            WHERE document_id = \(document.id) FOR UPDATE
            """)
        if let row = existing.first,
            try row.decode("deleted", as: Bool.self) == false,
            try row.decode("content_hash", as: String.self) == document.contentHash,
            try row.decode("chunks_hash", as: String.self) == chunksHash,
            try row.decode("title", as: String.self) == document.title,
            try row.decode("source", as: String.self) == document.source
        {
            return .unchanged
        }
        try connection.query(
            """
            INSERT INTO \(identifier: schema).documents AS d
                (document_id, title, source, content_hash, chunks_hash, version, updated_at, ingested_at, deleted)
            VALUES (\(document.id), \(document.title), \(document.source), \(document.contentHash), \(chunksHash),
                    1, \(document.updatedAt), \(time), false)
            ON CONFLICT (document_id) DO UPDATE SET
                title = excluded.title, source = excluded.source, content_hash = excluded.content_hash,
                chunks_hash = excluded.chunks_hash, version = d.version + 1, updated_at = excluded.updated_at,
                ingested_at = excluded.ingested_at, deleted = false, deleted_at = NULL
            """)
        try connection.query("DELETE FROM \(identifier: schema).chunks WHERE document_id = \(document.id)")
        if !chunks.isEmpty {
            try connection.copyIn(copySQL, rows: rows)
        }
        return existing.isEmpty ? .inserted : .updated
    }

    /// Marks the document deleted and drops its chunks, so search no longer finds it. The
    /// document row stays (with `deleted`) as a record. Returns false if it was not live.
    @discardableResult
    public func evict(documentId: String) async throws -> Bool {
        let schema = self.schema
        let now = Date()
        return try await pool.transaction { connection in
            try Self.evict(documentId, schema: schema, at: now, on: connection)
        }
    }

    /// Evicts every live document whose id is not in `keeping` (e.g. files removed from a
    /// re-ingested directory). Returns the evicted ids, sorted.
    @discardableResult
    public func evictStale(keeping: Set<String>) async throws -> [String] {
        let schema = self.schema
        let now = Date()
        let evicted = try await pool.transaction { connection -> [String] in
            try Self.evictStale(keeping: keeping, schema: schema, at: now, on: connection)
        }
        if !evicted.isEmpty {
            logger.info("evicted stale knowledge documents", metadata: ["count": "\(evicted.count)"])
        }
        return evicted
    }

    /// `evictStale` inside the caller's transaction, at a given time (see `store`).
    public static func evictStale(keeping: Set<String>, schema: String, at time: Date, on connection: PostgresConnection) throws -> [String] {
        let live = try connection.query(
            """
            SELECT document_id FROM \(identifier: schema).documents
            WHERE NOT deleted ORDER BY document_id FOR UPDATE
            """)
        var evicted: [String] = []
        for row in live {
            let id = try row.decode("document_id", as: String.self)
            guard !keeping.contains(id) else { continue }
            if try evict(id, schema: schema, at: time, on: connection) { evicted.append(id) }
        }
        return evicted
    }

    /// Marks one document deleted (at `time`) and drops its chunks, in the caller's transaction.
    public static func evict(_ documentId: String, schema: String, at time: Date, on connection: PostgresConnection) throws -> Bool {
        let updated = try connection.query(
            """
            UPDATE \(identifier: schema).documents SET deleted = true, deleted_at = \(time)
            WHERE document_id = \(documentId) AND NOT deleted
            """)
        try connection.query("DELETE FROM \(identifier: schema).chunks WHERE document_id = \(documentId)")
        return updated.affectedRows > 0
    }

    /// Loads `directory`, chunks every document, upserts each, then evicts documents whose
    /// file is gone. File reading and chunking run on a Dispatch queue, off the cooperative
    /// pool. Files that fail to load are reported and keep their indexed version. Throws
    /// `.emptySource` (and changes nothing) when the directory has no knowledge file at all,
    /// since evicting the whole index is more likely a mount problem than intent.
    public func ingest(
        directory: URL, loader: KnowledgeDocumentLoader = KnowledgeDocumentLoader(), chunker: Chunker = Chunker()
    ) async throws -> KnowledgeIngestReport {
        let listing = try await Self.offPool { () throws(KnowledgeError) in try loader.list(directory: directory) }
        guard !listing.presentDocumentIds.isEmpty else {
            throw KnowledgeError(
                code: .emptySource, message: "no knowledge files found; refusing to evict the whole index")
        }
        var report = KnowledgeIngestReport(errors: listing.errors)
        // One file at a time, so memory holds one document (≤ maxFileBytes) and its chunks.
        for relative in listing.files {
            let loaded = try await Self.offPool { () -> Result<(KnowledgeDocument, [KnowledgeChunk]), KnowledgeError> in
                loader.loadFile(relative, in: listing).map { ($0, chunker.chunks(for: $0)) }
            }
            switch loaded {
            case .failure(let error):
                logger.warning("knowledge file not loaded", metadata: ["error": "\(error)"])
                report.errors.append(error)
            case .success(let (document, chunks)):
                switch try await upsert(document, chunks: chunks) {
                case .inserted: report.inserted.append(document.id)
                case .updated: report.updated.append(document.id)
                case .unchanged: report.unchanged.append(document.id)
                }
            }
        }
        report.errors.sort { ($0.path ?? "").utf8.lexicographicallyPrecedes(($1.path ?? "").utf8) }
        report.evicted = try await evictStale(keeping: listing.presentDocumentIds)
        logger.info(
            "knowledge ingest finished",
            metadata: [
                "inserted": "\(report.inserted.count)", "updated": "\(report.updated.count)",
                "unchanged": "\(report.unchanged.count)", "evicted": "\(report.evicted.count)",
                "errors": "\(report.errors.count)",
            ])
        return report
    }

    /// Runs `work` on a Dispatch queue: file reads block, and chunking a large document is
    /// long CPU work, neither of which belongs on the cooperative pool.
    private static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws(KnowledgeError) -> T) async throws
        -> T
    {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            DispatchQueue.global(qos: .utility).async {
                do {
                    continuation.resume(returning: try work())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    // MARK: - Reading

    /// The stored state of a document (also when evicted), or nil if never stored.
    public func record(documentId: String) async throws -> KnowledgeDocumentRecord? {
        let rows = try await pool.query(
            """
            SELECT d.document_id, d.title, d.source, d.content_hash, d.version, d.ingested_at, d.deleted,
                   (SELECT count(*) FROM \(identifier: schema).chunks c WHERE c.document_id = d.document_id) AS chunk_count
            FROM \(identifier: schema).documents d WHERE d.document_id = \(documentId)
            """)
        guard let row = rows.first else { return nil }
        return KnowledgeDocumentRecord(
            documentId: try row.decode("document_id"), title: try row.decode("title"), source: try row.decode("source"),
            contentHash: try row.decode("content_hash"), version: try row.decode("version"),
            ingestedAt: try row.decode("ingested_at"), deleted: try row.decode("deleted"),
            chunkCount: try row.decode("chunk_count"))
    }

    /// The best `limit` chunks for `query`: `candidates` from Postgres, reranked.
    public func search(_ query: String, candidates: Int = 20, limit: Int = 5) async throws -> [KnowledgeHit] {
        try await retrieve(query, candidates: candidates, limit: limit).hits
    }

    /// `search` with the first stage's mode and candidates.
    public func retrieve(_ query: String, candidates: Int = 20, limit: Int = 5) async throws -> KnowledgeRetrieval {
        guard candidates > 0, limit > 0 else {
            throw KnowledgeError(code: .invalidArgument, message: "candidates and limit must be positive")
        }
        let query = Self.bounded(query)
        guard query.contains(where: { !$0.isWhitespace }) else {
            return KnowledgeRetrieval(mode: .none, candidates: [], hits: [])
        }
        var mode = KnowledgeMatchMode.allTerms
        var found = try await firstStage(query, anyTerm: false, limit: candidates)
        if found.isEmpty {
            mode = .anyTerm
            found = try await firstStage(query, anyTerm: true, limit: candidates)
        }
        if found.isEmpty { return KnowledgeRetrieval(mode: .none, candidates: [], hits: []) }
        let hits = try await reranker.rerank(query: query, candidates: found, limit: limit)
        return KnowledgeRetrieval(mode: mode, candidates: found, hits: hits)
    }

    private func firstStage(_ query: String, anyTerm: Bool, limit: Int) async throws -> [KnowledgeHit] {
        // The OR query is built from the stemmed lexemes as tsquery text, each quoted with
        // quotes and backslashes escaped, so no lexeme can inject tsquery operators. A query
        // with no lexemes gives NULL, which matches nothing.
        let tsquery: PostgresQuery =
            anyTerm
            ? #"""
            (SELECT string_agg('''' || replace(replace(l, '\', '\\'), '''', '''''') || '''', ' | ')::tsquery AS query
             FROM unnest(tsvector_to_array(to_tsvector('english', \#(query)))) AS l)
            """#
            : "(SELECT websearch_to_tsquery('english', \(query)) AS query)"
        let rows = try await pool.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT c.chunk_id, c.document_id, c.ordinal, coalesce(c.heading, '') AS heading, c.text,
                           d.title, d.source, ts_rank_cd(c.tsv, q.query) AS rank
                    FROM \(try PostgresQuery.quotedIdentifier(schema)).chunks c
                    JOIN \(try PostgresQuery.quotedIdentifier(schema)).documents d ON d.document_id = c.document_id
                    CROSS JOIN \(tsquery.sql) q
                    WHERE c.tsv @@ q.query AND NOT d.deleted
                    ORDER BY rank DESC, c.document_id, c.ordinal
                    LIMIT $2
                    """,
                binds: tsquery.binds + [PostgresValue(limit)]))
        return try rows.map { row in
            KnowledgeHit(
                chunkId: try row.decode("chunk_id"), documentId: try row.decode("document_id"),
                ordinal: try row.decode("ordinal"), title: try row.decode("title"), source: try row.decode("source"),
                heading: try row.decode("heading"), text: try row.decode("text"), retrievalScore: try row.decode("rank")
            )
        }
    }

    // MARK: - Helpers

    /// The stored heading: the section path rooted at the document title (unless the path
    /// already starts with it), so the title is searchable with heading weight too.
    static func breadcrumb(title: String, path: [String]) -> String {
        let root = title.trimmingCharacters(in: .whitespaces)
        if root.isEmpty || path.first == root { return path.joined(separator: " > ") }
        return ([root] + path).joined(separator: " > ")
    }

    static func bounded(_ query: String) -> String {
        guard query.count > maxQueryCharacters else { return query }
        let prefix = query.prefix(maxQueryCharacters)
        if let space = prefix.lastIndex(where: \.isWhitespace) { return String(prefix[..<space]) }
        return String(prefix)
    }

    private static func validate(_ document: KnowledgeDocument, _ chunks: [KnowledgeChunk]) throws(KnowledgeError) {
        var ids = Set<String>()
        var ordinals = Set<Int>()
        for chunk in chunks {
            guard chunk.documentId == document.id else {
                throw KnowledgeError(
                    code: .invalidArgument, documentId: document.id, message: "a chunk belongs to another document")
            }
            guard ids.insert(chunk.id).inserted, ordinals.insert(chunk.ordinal).inserted else {
                throw KnowledgeError(
                    code: .invalidArgument, documentId: document.id, message: "duplicate chunk id or ordinal")
            }
            guard !chunk.text.utf8.contains(0), !chunk.heading.utf8.contains(0) else {
                throw KnowledgeError(
                    code: .invalidArgument, documentId: document.id, message: "chunk text contains NUL")
            }
        }
        if [document.id, document.title, document.source, document.contentHash].contains(where: { $0.utf8.contains(0) })
        {
            throw KnowledgeError(
                code: .invalidArgument, documentId: document.id, message: "document metadata contains NUL")
        }
    }
}
