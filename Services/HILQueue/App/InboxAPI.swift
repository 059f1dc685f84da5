import AccessControl
import Auth
import Events
import Foundation
import Hummingbird
import JSON
import ReadModels
import ServiceRuntime
import NIOCore

/// The human agents' API. An agent acts as itself: its token's subject is its agent id
/// (`agent_id` in a body may be left out, and must be the agent's own unless the caller has
/// `hil:admin`). Everything is within the token's tenant. Errors are problem+json; a command
/// the conversation's phase does not allow is a 409 that changes nothing.
///
///     GET  /v1/handovers?status=requested|queued        the queue before anyone claims (by priority, age)
///     GET  /v1/hil/queue?queue=NAME                      conversations waiting for a human
///     GET  /v1/hil/conversations/{id}                    phase, handover summary, transcript with notes, approvals
///     POST /v1/hil/claim                {agent_id}       the next conversation for the agent's skills, or 204
///     POST /v1/hil/conversations/{id}/reply       {agent_id, text}
///     POST /v1/hil/conversations/{id}/notes       {agent_id, text}
///     POST /v1/hil/conversations/{id}/transfer    {agent_id, to_agent | to_queue, note?}
///     POST /v1/hil/conversations/{id}/resolve     {agent_id, note?}
///     POST /v1/hil/conversations/{id}/back-to-ai  {agent_id, note?}
///     GET  /v1/hil/agents                                profiles, status, load
///     PUT  /v1/hil/agents/{id}          {name, skills, capacity, status?}
///     POST /v1/hil/agents/{id}/status   {status}
///     POST /v1/hil/agents/{id}/heartbeat
///     GET  /v1/hil/agents/{id}/conversations             what the agent holds
///     GET  /v1/hil/stream                                server-sent `changed` events for open inboxes
///     GET  /inbox                                        the agent inbox page
struct InboxAPI: Sendable {
    let desk: HandoverDesk
    let handovers: HandoverQueries
    /// The conversation's messages (the gateway's read model; this service keeps only notes).
    let conversations: ConversationQueries
    let approvals: ApprovalQueries
    /// Live updates for open inboxes; nil in route tests.
    var changes: InboxChanges? = nil

    static let agentAccess = Access(.hilAgent, .hilAdmin)

    func addRoutes(to routes: SecuredRoutes) {
        let agent = Self.agentAccess
        routes.get("/v1/handovers", agent) { request, _, principal in try await self.legacyList(request, principal) }
        routes.get("/v1/hil/queue", agent) { request, _, principal in try await self.queue(request, principal) }
        routes.get("/v1/hil/conversations/:id", agent) { _, context, principal in try await self.conversation(context, principal) }
        routes.post("/v1/hil/claim", agent) { request, _, principal in try await self.claim(request, principal) }
        routes.post("/v1/hil/conversations/:id/reply", agent) { request, context, principal in try await self.act(request, context, principal, kind: .reply) }
        routes.post("/v1/hil/conversations/:id/notes", agent) { request, context, principal in try await self.act(request, context, principal, kind: .note) }
        routes.post("/v1/hil/conversations/:id/transfer", agent) { request, context, principal in try await self.act(request, context, principal, kind: .transfer) }
        routes.post("/v1/hil/conversations/:id/resolve", agent) { request, context, principal in try await self.act(request, context, principal, kind: .resolve) }
        routes.post("/v1/hil/conversations/:id/back-to-ai", agent) { request, context, principal in try await self.act(request, context, principal, kind: .handBack) }
        routes.get("/v1/hil/agents", agent) { _, _, principal in try await self.agents(principal) }
        routes.put("/v1/hil/agents/:id", Access(.hilAdmin)) { request, context, principal in try await self.saveAgent(request, context, principal) }
        routes.post("/v1/hil/agents/:id/status", agent) { request, context, principal in try await self.setStatus(request, context, principal) }
        routes.post("/v1/hil/agents/:id/heartbeat", agent) { _, context, principal in try await self.heartbeat(context, principal) }
        routes.get("/v1/hil/agents/:id/conversations", agent) { _, context, principal in try await self.held(context, principal) }
        routes.open("/inbox") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"], body: ResponseBody(byteBuffer: ByteBuffer(string: InboxPage.html)))
        }
        if let changes {
            routes.get("/v1/hil/stream", Access(.hilAgent, .hilAdmin, tokenInQuery: true)) { _, _, principal in await changes.response(tenant: principal.tenantID) }
        }
    }

    /// The agent a request acts as: the token's own agent (its subject), or with `hil:admin`
    /// the one named (an administrator naming none acts as its own subject, which is an agent
    /// only if it has a profile).
    static func actingAgent(_ named: String?, _ principal: Principal) throws -> String {
        if principal.allows(.hilAdmin) { return named ?? principal.subject }
        guard named == nil || named == principal.subject else {
            throw ProblemDetails(.forbidden, kind: "not-this-agent", title: "An agent acts only as itself (agent_id must be the token's subject)", field: "agent_id")
        }
        return principal.subject
    }

    // MARK: Reading

    func legacyList(_ request: Request, _ principal: Principal) async throws -> Response {
        let tenantID = principal.tenantID
        guard let status = HandoverStatus(rawValue: request.uri.queryParameters.get("status") ?? HandoverStatus.queued.rawValue) else {
            throw ProblemDetails(.badRequest, kind: "invalid-status", title: "status must be requested or queued", field: "status")
        }
        let items = try await handovers.queue(tenant: tenantID, phases: [status.phase], limit: 200).map { c -> JSONValue in
            .object([
                "turn_id": c.handoverID.map { .string($0.lowercaseString) } ?? .null,
                "conversation_id": .string(c.conversationID),
                "reason": c.reason.map(JSONValue.string) ?? .null,
                "summary": c.summary.map(JSONValue.string) ?? .null,
                "skills": .array(c.skills.map(JSONValue.string)),
                "queue": c.queue.map(JSONValue.string) ?? .null,
                "priority": c.priority.map { .number(Double($0)) } ?? .null,
            ])
        }
        return jsonResponse(.ok, bytes: JSONValue.object(["handovers": .array(items)]).serialized())
    }

    func queue(_ request: Request, _ principal: Principal) async throws -> Response {
        let tenantID = principal.tenantID
        let queue = request.uri.queryParameters.get("queue").map { String($0) }
        let items = try await handovers.queue(tenant: tenantID, phases: [.pendingHuman], queue: queue, limit: 200).map(Self.json)
        return jsonResponse(.ok, bytes: JSONValue.object(["conversations": .array(items)]).serialized())
    }

    func conversation(_ context: EdgeRequestContext, _ principal: Principal) async throws -> Response {
        let tenantID = principal.tenantID
        let id = try Self.conversationID(context)
        guard let conversation = try await handovers.conversation(id, tenant: tenantID) else {
            throw ProblemDetails(.notFound, kind: "conversation-not-found", title: "No such conversation", detail: "\(id) is unknown, or not yet on the read model")
        }
        var object = Self.json(conversation)
        // The customer's, the AI's and agents' messages, with the notes among them by log position.
        let messages = try await conversations.messages(conversation: id).map { m -> (Int64, JSONValue) in
            (m.logOffset, .object([
                "message_id": .string(m.messageID.lowercaseString), "role": .string(m.role), "agent_id": m.agentID.map(JSONValue.string) ?? .null,
                "text": .string(m.text), "at": .string(Timestamp.format(millis: m.occurredAtMillis)),
            ]))
        }
        let notes = try await handovers.notes(id).map { note -> (Int64, JSONValue) in
            (note.logOffset, .object([
                "message_id": .string(note.noteID.lowercaseString), "role": "note", "agent_id": .string(note.agentID), "text": .string(note.text),
                "at": .string(Timestamp.format(millis: note.occurredAtMillis)),
            ]))
        }
        let transcript = (messages + notes).sorted { $0.0 < $1.0 }.map(\.1)
        let customer = try await conversations.conversation(id, tenant: tenantID)?.customerID
        let approvals = try await approvals.approvals(conversation: id, tenant: tenantID).map(ApprovalAPI.json)
        if case .object(var fields) = object {
            fields["customer_id"] = customer.map(JSONValue.string) ?? .null
            fields["transcript"] = .array(transcript)
            fields["approvals"] = .array(approvals)
            object = .object(fields)
        }
        return jsonResponse(.ok, bytes: object.serialized())
    }

    static func json(_ c: HandoverQueries.Conversation) -> JSONValue {
        func time(_ millis: Int64?) -> JSONValue { millis.map { .string(Timestamp.format(millis: $0)) } ?? .null }
        return .object([
            "conversation_id": .string(c.conversationID), "phase": .string(c.phase.rawValue),
            "handover_id": c.handoverID.map { .string($0.lowercaseString) } ?? .null,
            "reason": c.reason.map(JSONValue.string) ?? .null, "summary": c.summary.map(JSONValue.string) ?? .null,
            "skills": .array(c.skills.map(JSONValue.string)), "queue": c.queue.map(JSONValue.string) ?? .null,
            "priority": c.priority.map { .number(Double($0)) } ?? .null, "agent_id": c.agentID.map(JSONValue.string) ?? .null,
            "sla_breached": .bool(c.slaBreached), "requested_at": time(c.requestedAtMillis), "queued_at": time(c.queuedAtMillis),
            "claimed_at": time(c.claimedAtMillis), "last_activity_at": time(c.lastActivityMillis),
        ])
    }

    static func conversationID(_ context: EdgeRequestContext) throws -> String {
        guard let id = context.pathParameter(), (1...200).contains(id.unicodeScalars.count) else {
            throw ProblemDetails(.notFound, kind: "conversation-not-found", title: "No such conversation")
        }
        return id
    }

    // MARK: Claiming and acting

    func claim(_ request: Request, _ principal: Principal) async throws -> Response {
        let tenantID = principal.tenantID
        let agent = try Self.actingAgent(try await JSONBody.read(request, allowed: ["agent_id"], emptyAllowed: true).optionalIdentifier("agent_id"), principal)
        switch try await desk.claim(tenant: tenantID, agent: agent) {
        case .claimed(let conversation, let handover, let queue):
            return jsonResponse(.ok, bytes: JSONValue.object([
                "conversation_id": .string(conversation), "handover_id": .string(handover.lowercaseString), "queue": .string(queue), "agent_id": .string(agent),
                "phase": .string(ConversationPhase.humanActive.rawValue),
            ]).serialized())
        case .nothingWaiting:
            return Response(status: .noContent)
        case .unknownAgent:
            throw ProblemDetails(.notFound, kind: "agent-not-found", title: "No such agent", detail: agent)
        case .notOnline(let status):
            throw ProblemDetails(.conflict, kind: "agent-not-online", title: "Only an online agent can claim", detail: "\(agent) is \(status.rawValue)")
        case .atCapacity(let capacity):
            throw ProblemDetails(.conflict, kind: "agent-at-capacity", title: "The agent holds as many conversations as it may", detail: "capacity \(capacity)")
        }
    }

    enum ActionKind { case reply, note, transfer, resolve, handBack }

    func act(_ request: Request, _ context: EdgeRequestContext, _ principal: Principal, kind: ActionKind) async throws -> Response {
        let tenantID = principal.tenantID
        let conversation = try Self.conversationID(context)
        let action: HandoverDesk.Action
        let agent: String
        switch kind {
        case .reply, .note:
            let body = try await JSONBody.read(request, allowed: ["agent_id", "text"])
            agent = try Self.actingAgent(try body.optionalIdentifier("agent_id"), principal)
            let text = try body.text("text", required: true, max: 4000)
            action = kind == .reply ? .reply(text) : .note(text)
        case .transfer:
            let body = try await JSONBody.read(request, allowed: ["agent_id", "to_agent", "to_queue", "note"])
            agent = try Self.actingAgent(try body.optionalIdentifier("agent_id"), principal)
            let note = try body.text("note", required: false)
            switch (try body.optionalIdentifier("to_agent"), try body.optionalIdentifier("to_queue")) {
            case (let target?, nil): action = .transferToAgent(target, note: note)
            case (nil, let queue?): action = .transferToQueue(queue, note: note)
            default:
                throw ProblemDetails(.unprocessableContent, kind: "invalid-transfer", title: "A transfer names exactly one of to_agent and to_queue")
            }
        case .resolve, .handBack:
            let body = try await JSONBody.read(request, allowed: ["agent_id", "note"])
            agent = try Self.actingAgent(try body.optionalIdentifier("agent_id"), principal)
            let note = try body.text("note", required: false)
            action = kind == .resolve ? .resolve(note: note) : .handBack(note: note)
        }
        switch try await desk.act(tenant: tenantID, conversation: conversation, agent: agent, action) {
        case .done(let event):
            let phase = try ConversationPhase.transition(for: event).flatMap { ConversationPhase.humanActive.applying($0) }
            return jsonResponse(.ok, bytes: JSONValue.object([
                "event_id": .string(event.id.lowercaseString), "event_type": .string(event.type), "conversation_id": .string(conversation),
                "phase": phase.map { .string($0.rawValue) } ?? .null,
            ]).serialized())
        case .unknownConversation:
            throw ProblemDetails(.notFound, kind: "conversation-not-found", title: "No handover for this conversation", detail: conversation)
        case .illegal(let phase, let transition):
            throw ProblemDetails(
                .conflict, kind: "illegal-transition", title: "Not possible in the conversation's phase",
                detail: "\(transition.rawValue) is not allowed when the conversation is \(phase.rawValue)")
        case .notHolder(let holder):
            throw ProblemDetails(.conflict, kind: "not-holder", title: "Another agent holds this conversation", detail: holder.map { "held by \($0)" })
        case .targetUnavailable(let target):
            throw ProblemDetails(.conflict, kind: "transfer-target-unavailable", title: "The agent cannot take the conversation", detail: "\(target) is unknown, not online or at capacity")
        }
    }

    // MARK: Agents

    func agents(_ principal: Principal) async throws -> Response {
        let tenantID = principal.tenantID
        let items = try await desk.agents(tenant: tenantID).map(Self.json)
        return jsonResponse(.ok, bytes: JSONValue.object(["agents": .array(items)]).serialized())
    }

    static func json(_ agent: HandoverDesk.Agent) -> JSONValue {
        .object([
            "agent_id": .string(agent.agentID), "name": .string(agent.name), "skills": .array(agent.skills.map(JSONValue.string)),
            "capacity": .number(Double(agent.capacity)), "status": .string(agent.status.rawValue), "load": .number(Double(agent.load)),
        ])
    }

    /// The agent in the path: an agent may name only itself; `hil:admin` any agent.
    static func agentID(_ context: EdgeRequestContext, _ principal: Principal) throws -> String {
        guard let id = context.pathParameter(), (1...128).contains(id.unicodeScalars.count) else {
            throw ProblemDetails(.notFound, kind: "agent-not-found", title: "No such agent")
        }
        return try actingAgent(id, principal)
    }

    func saveAgent(_ request: Request, _ context: EdgeRequestContext, _ principal: Principal) async throws -> Response {
        let tenantID = principal.tenantID
        let id = try Self.agentID(context, principal)
        let body = try await JSONBody.read(request, allowed: ["name", "skills", "capacity", "status"])
        let name = try body.text("name", required: true, max: 200)
        guard case .array(let list)? = body.object["skills"], !list.isEmpty, list.count <= 50,
              case let skills = list.compactMap(\.stringValue), skills.count == list.count, skills.allSatisfy({ (1...64).contains($0.count) })
        else { throw ProblemDetails(.unprocessableContent, kind: "invalid-skills", title: "skills must be a list of 1 to 50 names", field: "skills") }
        guard case .number(let number)? = body.object["capacity"], number == number.rounded(), (0...100).contains(number) else {
            throw ProblemDetails(.unprocessableContent, kind: "invalid-capacity", title: "capacity must be a whole number from 0 to 100", field: "capacity")
        }
        let status = try body.object["status"].map { _ in try Self.status(body) }
        try await desk.saveAgent(tenant: tenantID, id: id, name: name, skills: skills, capacity: Int(number), status: status)
        guard let agent = try await desk.agent(tenant: tenantID, id: id) else { throw ProblemDetails(.internalServerError, kind: "agent-lost", title: "The agent was not saved") }
        return jsonResponse(.ok, bytes: Self.json(agent).serialized())
    }

    static func status(_ body: JSONBody) throws -> HandoverDesk.AgentStatus {
        guard case .string(let text)? = body.object["status"], let status = HandoverDesk.AgentStatus(rawValue: text) else {
            throw ProblemDetails(.unprocessableContent, kind: "invalid-status", title: "status must be online, away or offline", field: "status")
        }
        return status
    }

    func setStatus(_ request: Request, _ context: EdgeRequestContext, _ principal: Principal) async throws -> Response {
        let tenantID = principal.tenantID
        let id = try Self.agentID(context, principal)
        let status = try Self.status(try await JSONBody.read(request, allowed: ["status"]))
        guard try await desk.setStatus(tenant: tenantID, agent: id, status) == .done, let agent = try await desk.agent(tenant: tenantID, id: id) else {
            throw ProblemDetails(.notFound, kind: "agent-not-found", title: "No such agent", detail: id)
        }
        return jsonResponse(.ok, bytes: Self.json(agent).serialized())
    }

    func heartbeat(_ context: EdgeRequestContext, _ principal: Principal) async throws -> Response {
        let tenantID = principal.tenantID
        let id = try Self.agentID(context, principal)
        guard try await desk.heartbeat(tenant: tenantID, agent: id) == .done else {
            throw ProblemDetails(.notFound, kind: "agent-not-found", title: "No such agent", detail: id)
        }
        return Response(status: .noContent)
    }

    func held(_ context: EdgeRequestContext, _ principal: Principal) async throws -> Response {
        let tenantID = principal.tenantID
        let id = try Self.agentID(context, principal)
        let items = try await handovers.held(by: id, tenant: tenantID).map(Self.json)
        return jsonResponse(.ok, bytes: JSONValue.object(["conversations": .array(items)]).serialized())
    }
}
