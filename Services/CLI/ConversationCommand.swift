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
            // The scratch schemas hold this conversation alone, and the CLI is an operator
            // tool: no tenant filter.
            let conversations = ConversationQueries(pool: pool, schema: schema)
            let found = try await conversations.conversation(conversation, tenant: nil)
            let messages = try await conversations.messages(conversation: conversation)
            let lastEvent = try await AuditQueries(pool: pool, schema: schema).lastEvent(conversation: conversation, tenant: nil)
            let ticket = try await TicketQueries(pool: pool, schema: casesSchema).ticket(conversation: conversation, tenant: nil)
            let spend = try await CostQueries(pool: pool, schema: costsSchema).total(CostQueries.Filter(conversation: conversation))
            var result: [String: JSONValue] = ["conversation_id": .string(conversation), "exists": .bool(found != nil)]
            if let found {
                result["customer_id"] = .string(found.customerID)
                result["status"] = .string(found.status.rawValue)
                result["owner"] = .string(found.owner.rawValue)
                result["turn_count"] = .number(Double(found.turnCount))
            }
            result["messages"] = .array(messages.map { message in
                .object([
                    "role": .string(message.role),
                    "kind": message.kind.map(JSONValue.string) ?? .null,
                    "text": .string(message.text),
                    "log_offset": .number(Double(message.logOffset)),
                    "occurred_at": .string(Timestamp.format(millis: message.occurredAtMillis)),
                ])
            })
            if let lastEvent {
                result["last_event"] = .object(["type": .string(lastEvent.type), "log_offset": .number(Double(lastEvent.logOffset))])
            }
            if let ticket {
                result["ticket"] = .object([
                    "status": .string(ticket.status.rawValue),
                    "intent": ticket.intent.map(JSONValue.string) ?? .null,
                    "workflow": ticket.workflow.map(JSONValue.string) ?? .null,
                    "facts": .array(ticket.facts.map { fact in
                        .object(["name": .string(fact.name), "value": .string(fact.value), "provenance": .string(fact.provenance)])
                    }),
                ])
            }
            result["costs"] = .object([
                "llm_calls": .number(Double(spend.calls)),
                "cost_micros": .number(Double(spend.costMicros)),
                "tokens": .number(Double(spend.tokensIn + spend.tokensOut)),
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
