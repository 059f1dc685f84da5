import ArgumentParser
import Events
import Foundation
import JSON
import Postgres
import ProjectionRebuild
import ReadModels

struct ConversationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "conversation", abstract: "Conversations as the log says they were.", subcommands: [ShowConversation.self])
}

/// `switchboard conversation show <id> [--at TIME | --at-offset N]`: time travel. Folds the
/// conversation's events up to that point with the gateway's own projection code into a
/// scratch schema, prints the conversation and its messages as JSON, drops the schema.
struct ShowConversation: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "The conversation, its messages, ticket and LLM costs as they were at a time or log offset (default: now).")
    @OptionGroup var options: ProjectionOptions
    @Argument(help: "Conversation id.")
    var id: String
    @Option(help: "Include events that occurred at or before this UTC time (2026-11-23T10:00:00Z).")
    var at: String?
    @Option(name: .customLong("at-offset"), help: "Include events up to and including this offset of the conversation's partition.")
    var atOffset: Int64?

    func run() async throws {
        guard EnvelopeRules.isValidAggregateID(id) else { throw ValidationError("not a conversation id: \(id)") }
        if at != nil, atOffset != nil { throw ValidationError("give --at or --at-offset, not both") }
        var untilTime = Int64.max
        if let at {
            guard case .time(let millis) = try FilterOptions.bound(at, name: "--at") else { throw ValidationError("--at must be a time; use --at-offset for an offset") }
            untilTime = millis
        }
        let untilOffset = atOffset ?? .max
        let untilMillis = untilTime
        let conversation = id
        let (rebuilder, pool) = try options.rebuilder()
        let stamp = UInt32.random(in: 0...UInt32.max)
        let schema = "timetravel_\(stamp)"
        let casesSchema = "timetravel_cases_\(stamp)"
        let costsSchema = "timetravel_costs_\(stamp)"
        let scratch = [schema, casesSchema, costsSchema]
        do {
            for (group, target) in [(ReadModels.gateway, schema), (ReadModels.cases, casesSchema), (ReadModels.costs, costsSchema)] {
                try await rebuilder.fold(group, into: target) { record, event in
                    event.conversationID == conversation && event.occurredAtMillis <= untilMillis && record.offset <= untilOffset
                }
            }
            let rows = try await pool.query("SELECT conversation_id, customer_id, status, owner, turn_count FROM \(identifier: schema).conversations")
            let messages = try await pool.query("SELECT role, kind, text, log_offset, (extract(epoch FROM occurred_at) * 1000)::bigint AS at_ms FROM \(identifier: schema).messages ORDER BY log_offset")
            let events = try await pool.query("SELECT type, log_offset FROM \(identifier: schema).audit_log ORDER BY log_offset DESC LIMIT 1")
            var result: [String: JSONValue] = ["conversation_id": .string(conversation), "exists": .bool(!rows.isEmpty)]
            if let row = rows.first {
                result["customer_id"] = .string(try row.decode("customer_id", as: String.self))
                result["status"] = .string(try row.decode("status", as: String.self))
                result["owner"] = .string(try row.decode("owner", as: String.self))
                result["turn_count"] = .number(Double(try row.decode("turn_count", as: Int.self)))
            }
            result["messages"] = .array(try messages.map { row in
                .object([
                    "role": .string(try row.decode("role", as: String.self)),
                    "kind": try row.decode("kind", as: String?.self).map(JSONValue.string) ?? .null,
                    "text": .string(try row.decode("text", as: String.self)),
                    "log_offset": .number(Double(try row.decode("log_offset", as: Int64.self))),
                    "occurred_at": .string(Timestamp.format(millis: try row.decode("at_ms", as: Int64.self))),
                ])
            })
            if let last = events.first {
                result["last_event"] = .object(["type": .string(try last.decode("type", as: String.self)), "log_offset": .number(Double(try last.decode("log_offset", as: Int64.self)))])
            }
            let ticket = try await pool.query("SELECT status, intent, workflow FROM \(identifier: casesSchema).tickets")
            let facts = try await pool.query("SELECT name, value, provenance FROM \(identifier: casesSchema).ticket_facts ORDER BY name")
            if let row = ticket.first {
                result["ticket"] = .object([
                    "status": .string(try row.decode("status", as: String.self)),
                    "intent": try row.decode("intent", as: String?.self).map(JSONValue.string) ?? .null,
                    "workflow": try row.decode("workflow", as: String?.self).map(JSONValue.string) ?? .null,
                    "facts": .array(try facts.map { fact in
                        .object(["name": .string(try fact.decode("name", as: String.self)), "value": .string(try fact.decode("value", as: String.self)), "provenance": .string(try fact.decode("provenance", as: String.self))])
                    }),
                ])
            }
            let costs = try await pool.query("SELECT count(*) AS calls, coalesce(sum(cost_micros), 0)::bigint AS cost_micros, coalesce(sum(tokens_in + tokens_out), 0)::bigint AS tokens FROM \(identifier: costsSchema).cost_ledger")
            result["costs"] = .object([
                "llm_calls": .number(Double(try costs[0].decode("calls", as: Int.self))),
                "cost_micros": .number(Double(try costs[0].decode("cost_micros", as: Int64.self))),
                "tokens": .number(Double(try costs[0].decode("tokens", as: Int64.self))),
            ])
            writeOut(String(decoding: JSONValue.object(result).serialized(), as: UTF8.self) + "\n")
        } catch {
            for target in scratch { _ = try? await pool.withConnection { try $0.execute(simple: "DROP SCHEMA IF EXISTS \(target) CASCADE") } }
            await pool.close()
            throw error
        }
        for target in scratch { try await pool.withConnection { try $0.execute(simple: "DROP SCHEMA IF EXISTS \(target) CASCADE") } }
        await pool.close()
    }
}
