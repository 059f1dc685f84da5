import Events
import Foundation
import Hummingbird
import JSON
import Postgres
import ServiceRuntime

/// Read side of the gateway for operators and agents: conversation lists with keyset paging,
/// and a conversation's events from the audit projection.
extension GatewayAPI {
    static let maxPageSize = 200

    func addReadRoutes(to router: Router<BasicRequestContext>) {
        router.get("/v1/conversations") { request, _ in try await self.listConversations(request) }
        router.get("/v1/conversations/:id/events") { request, context in try await self.conversationEvents(request, context: context) }
        router.get("/v1/costs/summary") { request, _ in try await self.costSummary(request) }
    }

    /// `?period=hour|day|month&group_by=model|tenant|conversation[&at=TIME]`: LLM spend of the
    /// calendar period (UTC) holding `at` (default now), from the planner's cost ledger.
    func costSummary(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let period = try Self.oneOf(query.get("period") ?? "day", ["hour", "day", "month"], field: "period")!
        let groupBy = try Self.oneOf(query.get("group_by") ?? "model", ["model", "tenant", "conversation"], field: "group_by")!
        var at = Date()
        if let raw = query.get("at") {
            guard let millis = Timestamp.parse(raw) ?? ISO8601DateFormatter().date(from: raw).map({ Int64($0.timeIntervalSince1970 * 1000) }) else {
                throw ProblemDetails(.badRequest, kind: "invalid-parameter", title: "at must be a UTC time like 2026-11-23T10:00:00Z", field: "at")
            }
            at = Date(timeIntervalSince1970: Double(millis) / 1000)
        }
        // The grouping column comes from a fixed list, never from the request text.
        let column = ["model": "model", "tenant": "tenant_id", "conversation": "conversation_id"][groupBy]!
        let rows = try await pool.query(PostgresQuery(unsafeSQL: """
            WITH window_bounds AS (
                SELECT date_trunc($1, $2::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start_at,
                       (date_trunc($1, $2::timestamptz AT TIME ZONE 'UTC') + ('1 ' || $1)::interval) AT TIME ZONE 'UTC' AS end_at
            )
            SELECT \(column) AS key, count(*) AS calls, sum(cost_micros)::bigint AS cost_micros,
                   sum(tokens_in)::bigint AS tokens_in, sum(tokens_out)::bigint AS tokens_out,
                   sum(latency_ms)::bigint AS latency_sum, sum(success::int)::bigint AS successes,
                   (extract(epoch FROM min(w.start_at)) * 1000)::bigint AS from_ms, (extract(epoch FROM min(w.end_at)) * 1000)::bigint AS to_ms
            FROM costs.cost_ledger, window_bounds w
            WHERE tenant_id = $3 AND occurred_at >= w.start_at AND occurred_at < w.end_at
            GROUP BY 1 ORDER BY 3 DESC, 1
            """, binds: [PostgresValue(period), PostgresValue(at), PostgresValue(tenantID)]))
        var total = (calls: 0, cost: Int64(0), tokensIn: Int64(0), tokensOut: Int64(0), latency: Int64(0), successes: Int64(0))
        var breakdown: [JSONValue] = []
        for row in rows {
            let calls = try row.decode("calls", as: Int.self)
            let cost = try row.decode("cost_micros", as: Int64.self)
            let tokensIn = try row.decode("tokens_in", as: Int64.self)
            let tokensOut = try row.decode("tokens_out", as: Int64.self)
            let latency = try row.decode("latency_sum", as: Int64.self)
            let successes = try row.decode("successes", as: Int64.self)
            total = (total.calls + calls, total.cost + cost, total.tokensIn + tokensIn, total.tokensOut + tokensOut, total.latency + latency, total.successes + successes)
            breakdown.append(Self.costFigures(key: try row.decode("key", as: String.self), calls: calls, cost: cost, tokensIn: tokensIn, tokensOut: tokensOut, latency: latency, successes: successes))
        }
        let start = Self.periodStart(period, at)
        let body: JSONValue = .object([
            "period": .string(period), "group_by": .string(groupBy),
            "from": .string(Timestamp.format(millis: start.0)), "to": .string(Timestamp.format(millis: start.1)),
            "total": Self.costFigures(key: nil, calls: total.calls, cost: total.cost, tokensIn: total.tokensIn, tokensOut: total.tokensOut, latency: total.latency, successes: total.successes),
            "breakdown": .array(breakdown),
        ])
        return jsonResponse(.ok, bytes: body.serialized())
    }

    static func costFigures(key: String?, calls: Int, cost: Int64, tokensIn: Int64, tokensOut: Int64, latency: Int64, successes: Int64) -> JSONValue {
        var object: [String: JSONValue] = [
            "calls": .number(Double(calls)),
            "cost_micros": .number(Double(cost)),
            "cost_usd": .string(String(format: "%d.%06d", cost / 1_000_000, cost % 1_000_000)),
            "tokens_in": .number(Double(tokensIn)),
            "tokens_out": .number(Double(tokensOut)),
            "avg_latency_ms": calls > 0 ? .number((Double(latency) / Double(calls) * 10).rounded() / 10) : .null,
            "success_rate": calls > 0 ? .number((Double(successes) / Double(calls) * 1000).rounded() / 1000) : .null,
        ]
        if let key { object["key"] = .string(key) }
        return .object(object)
    }

    /// Start and end (ms) of the UTC calendar period holding `date`.
    static func periodStart(_ period: String, _ date: Date) -> (Int64, Int64) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let component: Calendar.Component = period == "hour" ? .hour : period == "day" ? .day : .month
        let interval = calendar.dateInterval(of: component, for: date)!
        return (Int64(interval.start.timeIntervalSince1970 * 1000), Int64(interval.end.timeIntervalSince1970 * 1000))
    }

    /// `?status=open|handed_over&owner=ai|human&customer_id=…&limit=1…200&cursor=…`, newest
    /// activity first. The cursor is opaque (the last row's activity time and id).
    func listConversations(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let status = try Self.oneOf(query.get("status"), ["open", "handed_over"], field: "status")
        let owner = try Self.oneOf(query.get("owner"), ["ai", "human"], field: "owner")
        let customer = query.get("customer_id")
        if let customer, !EnvelopeRules.isValidAggregateID(customer) {
            throw ProblemDetails(.badRequest, kind: "invalid-parameter", title: "customer_id must be 1-128 characters of A-Z a-z 0-9 . _ : -", field: "customer_id")
        }
        let limit = try Self.limit(query.get("limit"))
        var afterMillis: Int64 = .max
        var afterID = ""
        if let cursor = query.get("cursor") {
            guard let decoded = Data(base64Encoded: cursor).map({ String(decoding: $0, as: UTF8.self) }),
                  let colon = decoded.firstIndex(of: ":"), let millis = Int64(decoded[..<colon])
            else { throw ProblemDetails(.badRequest, kind: "invalid-cursor", title: "cursor is not one this API returned", field: "cursor") }
            afterMillis = millis
            afterID = String(decoded[decoded.index(after: colon)...])
        }
        let afterTime = Date(timeIntervalSince1970: Double(afterMillis == .max ? 253_402_300_799_000 : afterMillis) / 1000)
        let rows = try await pool.query("""
            SELECT conversation_id, customer_id, status, owner, turn_count,
                   (extract(epoch FROM last_activity_at) * 1000)::bigint AS last_ms
            FROM gateway.conversations
            WHERE tenant_id = \(tenantID)
              AND (\(status)::text IS NULL OR status = \(status))
              AND (\(owner)::text IS NULL OR owner = \(owner))
              AND (\(customer)::text IS NULL OR customer_id = \(customer))
              AND (last_activity_at, conversation_id) < (\(afterTime), \(afterMillis == .max ? "\u{10FFFF}" : afterID))
            ORDER BY last_activity_at DESC, conversation_id DESC
            LIMIT \(limit + 1)
            """)
        var items: [JSONValue] = []
        var next: JSONValue = .null
        for (index, row) in rows.enumerated() {
            let id = try row.decode("conversation_id", as: String.self)
            let lastMillis = try row.decode("last_ms", as: Int64.self)
            if index == limit {
                break
            }
            items.append(.object([
                "conversation_id": .string(id),
                "customer_id": .string(try row.decode("customer_id", as: String.self)),
                "status": .string(try row.decode("status", as: String.self)),
                "owner": .string(try row.decode("owner", as: String.self)),
                "turn_count": .number(Double(try row.decode("turn_count", as: Int.self))),
                "last_activity_at": .string(Timestamp.format(millis: lastMillis)),
            ]))
            if index == limit - 1, rows.count > limit {
                next = .string(Data("\(lastMillis):\(id)".utf8).base64EncodedString())
            }
        }
        return jsonResponse(.ok, bytes: JSONValue.object(["conversations": .array(items), "next_cursor": next]).serialized())
    }

    /// `?after=<offset>&limit=…`: the conversation's events in log order, as envelopes.
    func conversationEvents(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let conversationID = try Self.conversationID(context)
        let limit = try Self.limit(request.uri.queryParameters.get("limit"))
        var after: Int64 = -1
        if let raw = request.uri.queryParameters.get("after") {
            guard let value = Int64(raw), value >= 0 else {
                throw ProblemDetails(.badRequest, kind: "invalid-parameter", title: "after must be a log offset (a non-negative integer)", field: "after")
            }
            after = value
        }
        let rows = try await pool.query("""
            SELECT log_offset, envelope FROM gateway.audit_log
            WHERE conversation_id = \(conversationID) AND tenant_id = \(tenantID) AND log_offset > \(after)
            ORDER BY partition, log_offset LIMIT \(limit)
            """)
        var events: [JSONValue] = []
        var last: Int64?
        for row in rows {
            events.append(try JSONValue.parse(Array(try row.decode("envelope", as: String.self).utf8)))
            last = try row.decode("log_offset", as: Int64.self)
        }
        let next: JSONValue = rows.count == limit ? last.map { .string(String($0)) } ?? .null : .null
        return jsonResponse(.ok, bytes: JSONValue.object(["events": .array(events), "next_after": next]).serialized())
    }

    static func oneOf(_ value: String?, _ allowed: [String], field: String) throws -> String? {
        guard let value else { return nil }
        guard allowed.contains(value) else {
            throw ProblemDetails(.badRequest, kind: "invalid-parameter", title: "\(field) must be one of \(allowed.joined(separator: ", "))", field: field)
        }
        return value
    }

    static func limit(_ raw: String?) throws -> Int {
        guard let raw else { return 50 }
        guard let value = Int(raw), (1...maxPageSize).contains(value) else {
            throw ProblemDetails(.badRequest, kind: "invalid-parameter", title: "limit must be 1-\(maxPageSize)", field: "limit")
        }
        return value
    }
}
