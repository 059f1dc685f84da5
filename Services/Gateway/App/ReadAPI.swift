import AccessControl
import Auth
import Events
import Foundation
import Hummingbird
import JSON
import ReadModels
import ServiceRuntime

/// Read side of the gateway for operators and agents: conversation lists with keyset paging,
/// and a conversation's events from the audit projection.
extension GatewayAPI {
    static let maxPageSize = 200

    func addReadRoutes(to routes: SecuredRoutes) {
        routes.get("/v1/conversations", Access(.conversationsRead)) { request, _, principal in try await self.listConversations(request, tenantID: principal.tenantID) }
        routes.get("/v1/conversations/:id/events", Access(.conversationsRead)) { request, context, principal in
            try await self.conversationEvents(request, context: context, tenantID: principal.tenantID)
        }
        routes.get("/v1/costs/summary", Access(.analyticsRead)) { request, _, principal in try await self.costSummary(request, tenantID: principal.tenantID) }
        routes.get("/v1/kpis", Access(.analyticsRead)) { request, _, principal in try await self.kpiSummary(request, tenantID: principal.tenantID) }
    }

    /// `?from=TIME&to=TIME` (default: all time): per intent and rollout mode, the share of turns
    /// automated, escalated and sent for approval, shadow agreement, cost per conversation and
    /// reply latency (docs/ROLLOUT.md).
    func kpiSummary(_ request: Request, tenantID: String) async throws -> Response {
        let query = request.uri.queryParameters
        func time(_ field: String) throws -> Int64? {
            guard let raw = query.get(field) else { return nil }
            guard let millis = Self.time(raw) else {
                throw ProblemDetails(.badRequest, kind: "invalid-parameter", title: "\(field) must be a time like 2026-11-23T10:00:00Z", field: field)
            }
            return millis
        }
        let (from, to) = (try time("from"), try time("to"))
        func rounded(_ value: Double?, _ places: Double = 10_000) -> JSONValue { value.map { .number(($0 * places).rounded() / places) } ?? .null }
        let rows = try await kpis.kpis(tenant: tenantID, fromMillis: from, toMillis: to)
        let body: JSONValue = [
            "from": from.map { .string(Timestamp.format(millis: $0)) } ?? .null,
            "to": to.map { .string(Timestamp.format(millis: $0)) } ?? .null,
            "intents": .array(rows.map { row in
                [
                    "intent": .string(row.intent), "mode": .string(row.mode), "turns": .number(Double(row.turns)),
                    "conversations": .number(Double(row.conversations)),
                    "automation_rate": rounded(row.automationRate), "escalation_rate": rounded(row.escalationRate),
                    "approval_rate": rounded(row.approvalRate), "shadow_agreement": rounded(row.shadowAgreement),
                    "shadow_turns": .number(Double(row.shadowTurns)),
                    "cost_micros_per_conversation": rounded(row.costMicrosPerConversation, 1),
                    "latency_ms": ["p50": rounded(row.latencyP50Ms, 1), "p95": rounded(row.latencyP95Ms, 1)],
                ]
            }),
        ]
        return jsonResponse(.ok, bytes: body.serialized())
    }

    /// `?period=hour|day|month&group_by=model|tenant|conversation[&at=TIME]`: LLM spend of the
    /// calendar period (UTC) holding `at` (default now), from the planner's cost ledger.
    func costSummary(_ request: Request, tenantID: String) async throws -> Response {
        let query = request.uri.queryParameters
        let period = try Self.oneOf(query.get("period") ?? "day", ["hour", "day", "month"], field: "period")!
        let groupBy = try Self.oneOf(query.get("group_by") ?? "model", ["model", "tenant", "conversation"], field: "group_by")!
        var at = Date()
        if let raw = query.get("at") {
            guard let millis = Self.time(raw) else {
                throw ProblemDetails(.badRequest, kind: "invalid-parameter", title: "at must be a time like 2026-11-23T10:00:00Z", field: "at")
            }
            at = Date(timeIntervalSince1970: Double(millis) / 1000)
        }
        let grouping = CostQueries.Grouping(rawValue: groupBy)!
        // One window, computed once, both filters the ledger and is reported as from/to.
        let window = Self.periodStart(period, at)
        let breakdown = try await costs.spend(
            CostQueries.Filter(
                tenant: tenantID,
                from: Date(timeIntervalSince1970: Double(window.0) / 1000), until: Date(timeIntervalSince1970: Double(window.1) / 1000)),
            groupedBy: grouping)
        let total = breakdown.reduce(CostQueries.Spend.zero) { $0.adding($1) }
        let body: JSONValue = .object([
            "period": .string(period), "group_by": .string(groupBy),
            "from": .string(Timestamp.format(millis: window.0)), "to": .string(Timestamp.format(millis: window.1)),
            "total": Self.costFigures(total),
            "breakdown": .array(breakdown.map(Self.costFigures)),
        ])
        return jsonResponse(.ok, bytes: body.serialized())
    }

    static func costFigures(_ spend: CostQueries.Spend) -> JSONValue {
        let (calls, cost) = (spend.calls, spend.costMicros)
        var object: [String: JSONValue] = [
            "calls": .number(Double(calls)),
            "cost_micros": .number(Double(cost)),
            "cost_usd": .string(String(format: "%d.%06d", cost / 1_000_000, cost % 1_000_000)),
            "tokens_in": .number(Double(spend.tokensIn)),
            "tokens_out": .number(Double(spend.tokensOut)),
            "avg_latency_ms": calls > 0 ? .number((Double(spend.latencyMsTotal) / Double(calls) * 10).rounded() / 10) : .null,
            "success_rate": calls > 0 ? .number((Double(spend.successes) / Double(calls) * 1000).rounded() / 1000) : .null,
        ]
        if let key = spend.key { object["key"] = .string(key) }
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
    /// activity first. The cursor is the last row's position, `<activity millis>.<conversation id>`
    /// (any string of that shape is a position to list after; the published document says so).
    func listConversations(_ request: Request, tenantID: String) async throws -> Response {
        let query = request.uri.queryParameters
        let status = try Self.oneOf(query.get("status"), ConversationStatus.self, field: "status")
        let owner = try Self.oneOf(query.get("owner"), ConversationOwner.self, field: "owner")
        let customer = query.get("customer_id")
        if let customer, !EnvelopeRules.isValidAggregateID(customer) {
            throw ProblemDetails(.badRequest, kind: "invalid-parameter", title: "customer_id must be 1-128 characters of A-Z a-z 0-9 . _ : -", field: "customer_id")
        }
        let limit = try Self.limit(query.get("limit"))
        var after: ConversationQueries.Position?
        if let cursor = query.get("cursor") {
            guard let dot = cursor.firstIndex(of: "."), let millis = Int64(cursor[..<dot]), millis >= 0,
                  case let id = String(cursor[cursor.index(after: dot)...]), EnvelopeRules.isValidAggregateID(id)
            else { throw ProblemDetails(.badRequest, kind: "invalid-cursor", title: "cursor is not one this API returned", field: "cursor") }
            after = ConversationQueries.Position(lastActivityMillis: millis, conversationID: id)
        }
        let page = try await conversations.list(
            tenant: tenantID, filter: ConversationQueries.Filter(status: status, owner: owner, customerID: customer), after: after, limit: limit)
        let items: [JSONValue] = page.conversations.map { conversation in
            .object([
                "conversation_id": .string(conversation.conversationID),
                "customer_id": .string(conversation.customerID),
                "status": .string(conversation.status.rawValue),
                "owner": .string(conversation.owner.rawValue),
                "turn_count": .number(Double(conversation.turnCount)),
                "last_activity_at": .string(Timestamp.format(millis: conversation.lastActivityMillis)),
            ])
        }
        let next: JSONValue = page.next.map { .string("\($0.lastActivityMillis).\($0.conversationID)") } ?? .null
        return jsonResponse(.ok, bytes: JSONValue.object(["conversations": .array(items), "next_cursor": next]).serialized())
    }

    /// `?after=<offset>&limit=…`: the conversation's events in log order, as envelopes.
    func conversationEvents(_ request: Request, context: EdgeRequestContext, tenantID: String) async throws -> Response {
        let conversationID = try Self.conversationID(context)
        let limit = try Self.limit(request.uri.queryParameters.get("limit"))
        var after: Int64 = -1
        if let raw = request.uri.queryParameters.get("after") {
            guard let value = Int64(raw), (0...9_007_199_254_740_991).contains(value) else {
                throw ProblemDetails(.badRequest, kind: "invalid-parameter", title: "after must be a log offset (a non-negative integer)", field: "after")
            }
            after = value
        }
        let entries = try await audit.events(conversation: conversationID, tenant: tenantID, afterOffset: after, limit: limit)
        let events = try entries.map { try JSONValue.parse(Array($0.envelope.utf8)) }
        let next: JSONValue = entries.count == limit ? entries.last.map { .string(String($0.logOffset)) } ?? .null : .null
        return jsonResponse(.ok, bytes: JSONValue.object(["events": .array(events), "next_after": next]).serialized())
    }

    /// An RFC 3339 time (with or without fractional seconds, any offset), in Unix milliseconds,
    /// clamped to 1970-01-01…9999-12-31 (nothing the platform records lies outside; the read
    /// models' time columns and formatting need not meet year 1).
    static func time(_ raw: String) -> Int64? {
        func clamped(_ millis: Int64) -> Int64 { min(max(millis, 0), 253_402_300_799_000) }
        if let millis = Timestamp.parse(raw) { return clamped(millis) }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: raw) { return clamped(Int64(date.timeIntervalSince1970 * 1000)) }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: raw).map { clamped(Int64($0.timeIntervalSince1970 * 1000)) }
    }

    /// A query parameter naming a case of `type`, by its code.
    static func oneOf<T: RawRepresentable & CaseIterable>(_ value: String?, _ type: T.Type, field: String) throws -> T? where T.RawValue == String {
        try oneOf(value, T.allCases.map(\.rawValue), field: field).flatMap(T.init(rawValue:))
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
