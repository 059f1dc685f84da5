import AccessControl
import APIContract
import Auth
import CustomerKeys
import EventBus
import Events
import Foundation
import HTTPTypes
public import Hummingbird
import JSON
import Logging
import Privacy
import ReadModels
import ServiceRuntime
import NIOCore

/// The customer-facing chat API. Every input is validated at the edge (size, UTF-8, shape,
/// identifiers) and rejected with problem+json before anything is appended to the log.
public struct GatewayAPI: Sendable {
    public static let maxBodyBytes = 16 * 1024
    public static let maxTextCharacters = 4000
    public static let maxWaitSeconds = 30

    /// Appends an event and returns once the broker acknowledged it. A closure rather than the
    /// publisher itself, so route tests run without a broker.
    let publish: @Sendable (EventEnvelope) async throws -> Void
    let conversations: ConversationQueries
    let audit: AuditQueries
    let tickets: TicketQueries
    let costs: CostQueries
    let kpis: KPIQueries
    let waiters: ReplyWaiters
    let streams: ConversationStreams
    let producer: String
    /// Signs customer session tokens for tenants' backends (`POST /v1/sessions`); nil when
    /// the configured key set has no signing key.
    let sessionIssuer: TokenIssuer?
    /// Personal data the pack keeps in clear; everything else in a message is redacted, the
    /// original sealed under the customer's key in `vault`.
    let clearKinds: Set<PIIKind>
    /// Kinds the pack seals for tools: references on the log, unsealed by the executor alone.
    let referencedKinds: Set<PIIKind>
    let vault: CustomerKeyVault
    /// Refuses new messages while the platform is overloaded (docs/SECURITY.md).
    let shedder: LoadShedder

    init(
        publish: @escaping @Sendable (EventEnvelope) async throws -> Void,
        conversations: ConversationQueries, audit: AuditQueries, tickets: TicketQueries, costs: CostQueries,
        waiters: ReplyWaiters, streams: ConversationStreams = ConversationStreams(), producer: String, sessionIssuer: TokenIssuer?,
        clearKinds: Set<PIIKind> = [], referencedKinds: Set<PIIKind> = [], vault: CustomerKeyVault, shedder: LoadShedder = LoadShedder(settings: .init())
    ) {
        self.shedder = shedder
        self.clearKinds = clearKinds
        self.referencedKinds = referencedKinds
        self.vault = vault
        self.kpis = KPIQueries(pool: costs.pool)
        self.streams = streams
        self.publish = publish
        self.conversations = conversations
        self.audit = audit
        self.tickets = tickets
        self.costs = costs
        self.waiters = waiters
        self.producer = producer
        self.sessionIssuer = sessionIssuer
    }

    /// Every endpoint and who may call it (docs/SECURITY.md). Customer session tokens
    /// (`chat:send`, one customer) may post to and read their own conversations only.
    public func addRoutes(to routes: SecuredRoutes) {
        routes.post("/v1/conversations/:id/messages", Access(.chatSend)) { request, context, principal in
            try await self.postMessage(request, context: context, principal: principal)
        }
        routes.get("/v1/conversations/:id", Access(.conversationsRead, .chatSend)) { request, context, principal in
            try await self.getConversation(request, context: context, principal: principal)
        }
        routes.get("/v1/conversations/:id/stream", Access(.conversationsRead, .chatSend, tokenInQuery: true)) { request, context, principal in
            try await self.stream(request, context: context, principal: principal)
        }
        routes.post("/v1/conversations/:id/answer-by-email", Access(.chatSend)) { request, context, principal in
            try await self.answerByEmail(request, context: context, principal: principal)
        }
        routes.post("/v1/sessions", Access(.chatSend)) { request, _, principal in
            try await self.createSession(request, principal: principal)
        }
        routes.open("/widget.js") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "public, max-age=300"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: WidgetAssets.script)))
        }
        routes.open("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: WidgetAssets.demoPage)))
        }
        routes.put("/v1/customers/:id/memory-consent", Access(.chatSend, .admin)) { request, context, principal in
            try await self.putMemoryConsent(request, context: context, principal: principal)
        }
        routes.delete("/v1/customers/:id", Access(.admin)) { _, context, principal in
            try await self.eraseCustomer(context: context, principal: principal)
        }
        addReadRoutes(to: routes)
    }

    /// The conversation as the caller may see it: nil when it belongs to another tenant or,
    /// for a customer session, to another customer (both answer 404, never 403, so ids of
    /// others' conversations cannot be probed). `nil` known: not on the read model yet.
    func visible(_ conversationID: String, to principal: Principal) async throws -> (allowed: Bool, known: ConversationQueries.Conversation?) {
        guard let known = try await conversations.conversation(conversationID, tenant: nil) else { return (true, nil) }
        guard known.tenantID == principal.tenantID else { return (false, known) }
        if principal.kind == .customerSession, known.customerID != principal.customerID { return (false, known) }
        return (true, known)
    }

    static let conversationNotFound = ProblemDetails(.notFound, kind: "conversation-not-found", title: "No conversation with this id", field: "id")

    /// `POST /v1/sessions` `{"customer_id": "…", "ttl_seconds": 900}` from a tenant's backend
    /// (an API key or token with `chat:send`, not itself a customer session): a short-lived
    /// token for the chat widget that speaks for that one customer of the caller's tenant.
    func createSession(_ request: Request, principal: Principal) async throws -> Response {
        guard principal.kind != .customerSession else {
            throw ProblemDetails(.forbidden, kind: "insufficient-scope", title: "A customer session cannot create sessions")
        }
        guard let sessionIssuer else {
            throw ProblemDetails(.serviceUnavailable, kind: "sessions-unavailable", title: "This gateway has no signing key for customer sessions")
        }
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: 1024) } catch let error as HTTPError where error.status == .contentTooLarge {
            throw ProblemDetails(.contentTooLarge, kind: "body-too-large", title: "Body larger than 1024 bytes")
        }
        guard case .object(let object)? = try? JSONValue.parse(Array(buffer: body)) else {
            throw ProblemDetails(.badRequest, kind: "invalid-json", title: "Body must be a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { $0 != "customer_id" && $0 != "ttl_seconds" }) {
            throw ProblemDetails(.unprocessableContent, kind: "unknown-field", title: "Unknown field '\(unknown)'", field: unknown)
        }
        guard case .string(let customerID)? = object["customer_id"], EnvelopeRules.isValidAggregateID(customerID) else {
            throw ProblemDetails(.unprocessableContent, kind: "invalid-field", title: "customer_id is required: 1-128 characters of A-Z a-z 0-9 . _ : -", field: "customer_id")
        }
        var ttl = 900
        if let value = object["ttl_seconds"] {
            guard let seconds = value.intValue, (60...3600).contains(seconds) else {
                throw ProblemDetails(.unprocessableContent, kind: "invalid-field", title: "ttl_seconds must be an integer from 60 to 3600", field: "ttl_seconds")
            }
            ttl = seconds
        }
        let token = try sessionIssuer.issueCustomerSession(tenantID: principal.tenantID, customerID: customerID, ttl: .seconds(ttl))
        let reply: JSONValue = ["token": .string(token), "token_type": "Bearer", "expires_in": .number(Double(ttl)), "customer_id": .string(customerID)]
        return jsonResponse(.created, bytes: reply.serialized(), headers: [.cacheControl: "no-store"])
    }

    struct IncomingMessage {
        /// Required from a tenant's backend; a customer session speaks for its own customer.
        var customerID: String?
        var text: String
    }

    func postMessage(_ request: Request, context: EdgeRequestContext, principal: Principal) async throws -> Response {
        let conversationID = try Self.conversationID(context)
        if let refusal = shedder.enter() { throw LoadShedder.problem(refusal, conversationID: conversationID) }
        defer { shedder.leave() }
        let tenantID = principal.tenantID
        let wait = try Self.waitSeconds(request)
        if let contentType = request.headers[.contentType], !contentType.lowercased().hasPrefix("application/json") {
            throw ProblemDetails(.unsupportedMediaType, kind: "unsupported-media-type", title: "Body must be application/json")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw ProblemDetails(.contentTooLarge, kind: "body-too-large", title: "Body larger than \(Self.maxBodyBytes) bytes")
        }
        let message = try Self.parseMessage(Array(buffer: body))
        let customerID = try Self.customer(message.customerID, of: principal)

        var turnID = UUID()
        var messageID = UUID()
        if let key = request.headers[HTTPField.Name("Idempotency-Key")!] {
            guard (1...128).contains(key.utf8.count), key.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x21 && $0.value < 0x7F }) else {
                throw ProblemDetails(.badRequest, kind: "invalid-idempotency-key", title: "Idempotency-Key must be 1-128 visible ASCII characters", field: "Idempotency-Key")
            }
            // A retried request maps to the same event ids; the log's readers drop the repeat.
            messageID = DerivedID.make(name: "idempotency/\(tenantID)/\(conversationID)/\(key)")
            turnID = DerivedID.make(from: messageID, label: "turn")
        }
        // Whose conversation this is, from the read model (the last check, after everything the
        // request alone can show wrong). Unknown: a new conversation, the caller's from now on.
        try await checkWriter(conversationID, customer: customerID, principal: principal, context: context)
        // Personal data the pack does not keep in clear is redacted; the original is sealed under
        // the customer's key with the event's id as associated data (docs/SECURITY.md).
        let redacted = PIIDetector.shared.redact(message.text, allowing: clearKinds, referencing: referencedKinds, messageID: messageID)
        var sealed: SealedText?
        if redacted.replacementCount > 0 {
            do {
                let key = try await vault.key(tenant: tenantID, customer: customerID)
                sealed = try Sealer.seal(message.text, key: key, keyRef: CustomerKeyVault.keyRef(tenant: tenantID, customer: customerID), context: messageID.lowercaseString)
            } catch {
                context.logger.error("sealing failed", metadata: ["error": "\(error)", "conversation.id": "\(conversationID)"])
                throw ProblemDetails(.serviceUnavailable, kind: "privacy-vault-unavailable", title: "The message could not be recorded safely right now; retry later", headers: [.retryAfter: "1"])
            }
        }
        let event = try EventEnvelope.start(
            MessageReceived(
                customerID: customerID, text: redacted.text, sealed: sealed,
                redactions: redacted.replacements.isEmpty ? nil : Dictionary(uniqueKeysWithValues: redacted.replacements.map { ($0.key.rawValue, $0.value) })),
            id: messageID, conversationID: conversationID, tenantID: tenantID, producer: producer,
            correlationID: turnID, traceparent: request.headers[HTTPField.Name("traceparent")!]
        )
        if wait > 0 { await waiters.prepare(turnID) }
        do {
            try await publish(event)
        } catch {
            if wait > 0 { await waiters.finish(turnID) }
            context.logger.error("append failed", metadata: ["error": "\(error)", "conversation.id": "\(conversationID)"])
            throw ProblemDetails(.serviceUnavailable, kind: "log-unavailable", title: "The message could not be recorded; retry later", headers: [.retryAfter: "1"])
        }
        var fields: [String: JSONValue] = [
            "turn_id": .string(turnID.uuidString.lowercased()),
            "message_id": .string(messageID.uuidString.lowercased()),
            "conversation_id": .string(conversationID),
        ]
        let location: HTTPFields = [.location: "/v1/conversations/\(conversationID)"]
        if wait > 0 {
            // A retried request (same Idempotency-Key) whose reply went out before this request
            // started listening finds it in the read model; otherwise the tail delivers it.
            if let reply = try await awaitReply(turnID: turnID, timeout: .seconds(wait)) {
                fields["status"] = "replied"
                fields["reply"] = .object([
                    "reply_id": .string(reply.replyID.uuidString.lowercased()),
                    "kind": .string(reply.kind.rawValue),
                    "text": .string(reply.text),
                ])
                return jsonResponse(.ok, bytes: JSONValue.object(fields).serialized(), headers: location)
            }
        }
        fields["status"] = "accepted"
        return jsonResponse(.accepted, bytes: JSONValue.object(fields).serialized(), headers: location)
    }

    /// `PUT /v1/customers/{id}/memory-consent` `{"granted": bool, "ttl_seconds": int?}`:
    /// whether the planner may remember the customer's profile facts across conversations
    /// (default 90 days after they were last said). Withdrawal erases them.
    func putMemoryConsent(_ request: Request, context: EdgeRequestContext, principal: Principal) async throws -> Response {
        guard let customerID = context.pathParameter(), EnvelopeRules.isValidAggregateID(customerID), customerID.utf8.count <= 119 else {
            throw ProblemDetails(.badRequest, kind: "invalid-customer-id", title: "customer id must be 1-119 characters of A-Z a-z 0-9 . _ : -")
        }
        // Consent is the customer's own (their session) or an administrator's on their behalf.
        if !principal.allows(.admin), principal.kind != .customerSession || principal.customerID != customerID {
            throw ProblemDetails(.forbidden, kind: "wrong-customer", title: "Only the customer's own session or an administrator can change their consent")
        }
        let tenantID = principal.tenantID
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: 1024)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw ProblemDetails(.contentTooLarge, kind: "body-too-large", title: "Body larger than 1024 bytes")
        }
        guard case .object(let object)? = try? JSONValue.parse(Array(buffer: body)) else {
            throw ProblemDetails(.badRequest, kind: "invalid-json", title: "Body must be a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { $0 != "granted" && $0 != "ttl_seconds" }) {
            throw ProblemDetails(.unprocessableContent, kind: "unknown-field", title: "Unknown field \(unknown)", field: unknown)
        }
        guard case .bool(let granted)? = object["granted"] else {
            throw ProblemDetails(.unprocessableContent, kind: "invalid-field", title: "granted is required and must be a boolean", field: "granted")
        }
        var ttl = 90 * 86_400
        if let value = object["ttl_seconds"] {
            guard let seconds = value.intValue, (1...31_536_000).contains(seconds) else {
                throw ProblemDetails(.unprocessableContent, kind: "invalid-field", title: "ttl_seconds must be an integer from 1 to 31536000", field: "ttl_seconds")
            }
            ttl = seconds
        }
        let event = try EventEnvelope.start(
            MemoryConsentChanged(customerID: customerID, granted: granted, ttlSeconds: ttl),
            conversationID: "customer:\(customerID)", tenantID: tenantID, producer: producer)
        do {
            try await publish(event)
        } catch {
            throw ProblemDetails(.serviceUnavailable, kind: "log-unavailable", title: "The consent could not be recorded; retry later", headers: [.retryAfter: "1"])
        }
        let reply: JSONValue = ["customer_id": .string(customerID), "granted": .bool(granted), "ttl_seconds": .number(Double(ttl)), "event_id": .string(event.id.lowercaseString)]
        return jsonResponse(.accepted, bytes: reply.serialized())
    }

    /// Whom a message speaks for: a customer session's own customer (a body naming another is
    /// refused, not ignored), else the body's `customer_id`, which is then required.
    static func customer(_ given: String?, of principal: Principal) throws -> String {
        if principal.kind == .customerSession {
            guard let own = principal.customerID, given == nil || given == own else {
                throw ProblemDetails(.forbidden, kind: "wrong-customer", title: "customer_id must be the session's own customer (or left out)", field: "customer_id")
            }
            return own
        }
        guard let given else {
            throw ProblemDetails(.unprocessableContent, kind: "invalid-field", title: "customer_id is required and must be a string", field: "customer_id")
        }
        return given
    }

    /// `POST /v1/conversations/{id}/answer-by-email` `{"email", "text", "customer_id"?}`: what a
    /// customer told "we're very busy" can leave instead of retrying. Not shed itself: it is one
    /// append. The question is redacted like a message; the address and the original question
    /// are sealed together under the customer's key.
    /// A write into `conversationID` for `customer`: another tenant's conversation is a 404
    /// (as if unknown), another customer's a 409; an unknown one becomes the caller's.
    func checkWriter(_ conversationID: String, customer customerID: String, principal: Principal, context: EdgeRequestContext) async throws {
        let ownership: (allowed: Bool, known: ConversationQueries.Conversation?)
        do {
            ownership = try await visible(conversationID, to: principal)
        } catch {
            context.logger.error("ownership check failed", metadata: ["error": "\(error)", "conversation.id": "\(conversationID)"])
            throw ProblemDetails(.serviceUnavailable, kind: "read-model-unavailable", title: "The conversation's owner cannot be checked right now; retry later", headers: [.retryAfter: "1"])
        }
        guard ownership.allowed else { throw Self.conversationNotFound }
        if let known = ownership.known, known.customerID != customerID {
            // One conversation is one customer's: another customer cannot write into it.
            throw ProblemDetails(.conflict, kind: "conversation-of-another-customer", title: "This conversation belongs to another customer", field: "customer_id")
        }
    }

    func answerByEmail(_ request: Request, context: EdgeRequestContext, principal: Principal) async throws -> Response {
        let conversationID = try Self.conversationID(context)
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: Self.maxBodyBytes) } catch let error as HTTPError where error.status == .contentTooLarge {
            throw ProblemDetails(.contentTooLarge, kind: "body-too-large", title: "Body larger than \(Self.maxBodyBytes) bytes")
        }
        guard case .object(var object)? = try? JSONValue.parse(Array(buffer: body)) else {
            throw ProblemDetails(.badRequest, kind: "invalid-json", title: "Body must be a JSON object")
        }
        guard case .string(let email)? = object.removeValue(forKey: "email"), email.range(of: Self.emailPattern, options: .regularExpression) != nil else {
            throw ProblemDetails(.unprocessableContent, kind: "invalid-field", title: "email must be one email address", field: "email")
        }
        let message = try Self.parseMessage(JSONValue.object(object).serialized())
        let customerID = try Self.customer(message.customerID, of: principal)
        try await checkWriter(conversationID, customer: customerID, principal: principal, context: context)
        let eventID = UUID()
        let sealed: SealedText
        do {
            let key = try await vault.key(tenant: principal.tenantID, customer: customerID)
            let original = JSONValue.object(["email": .string(email), "text": .string(message.text)]).serializedString()
            sealed = try Sealer.seal(original, key: key, keyRef: CustomerKeyVault.keyRef(tenant: principal.tenantID, customer: customerID), context: eventID.lowercaseString)
        } catch {
            throw ProblemDetails(.serviceUnavailable, kind: "privacy-vault-unavailable", title: "The request could not be recorded safely right now; retry later", headers: [.retryAfter: "1"])
        }
        let event = try EventEnvelope.start(
            AnswerByEmailRequested(customerID: customerID, text: PIIDetector.shared.redact(message.text, allowing: clearKinds).text, sealed: sealed),
            id: eventID, conversationID: conversationID, tenantID: principal.tenantID, producer: producer)
        do {
            try await publish(event)
        } catch {
            throw ProblemDetails(.serviceUnavailable, kind: "log-unavailable", title: "The request could not be recorded; retry later", headers: [.retryAfter: "1"])
        }
        let reply: JSONValue = ["status": "recorded", "event_id": .string(event.id.lowercaseString), "conversation_id": .string(conversationID)]
        return jsonResponse(.accepted, bytes: reply.serialized())
    }

    /// What `answer-by-email` takes as an address (also the published document's pattern).
    static let emailPattern = "^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\\.[A-Za-z0-9-]{1,63})*\\.[A-Za-z]{2,24}$"

    /// `DELETE /v1/customers/{id}`: the right to erasure on an immutable log. The customer's key
    /// is destroyed (every original sealed under it is unreadable from now on, in the log, in
    /// exports and in rebuilds) and `CustomerErased` is appended, on which read models blank
    /// the customer's conversations and the planner forgets them. Repeating it is harmless.
    func eraseCustomer(context: EdgeRequestContext, principal: Principal) async throws -> Response {
        guard let customerID = context.pathParameter(), EnvelopeRules.isValidAggregateID(customerID), customerID.utf8.count <= 119 else {
            throw ProblemDetails(.badRequest, kind: "invalid-customer-id", title: "customer id must be 1-119 characters of A-Z a-z 0-9 . _ : -")
        }
        let destroyed: Bool
        do {
            destroyed = try await vault.destroy(tenant: principal.tenantID, customer: customerID)
        } catch {
            throw ProblemDetails(.serviceUnavailable, kind: "privacy-vault-unavailable", title: "The customer's key could not be destroyed right now; retry later", headers: [.retryAfter: "1"])
        }
        let event = try EventEnvelope.start(
            CustomerErased(customerID: customerID), conversationID: "customer:\(customerID)", tenantID: principal.tenantID, producer: producer)
        do {
            try await publish(event)
        } catch {
            throw ProblemDetails(.serviceUnavailable, kind: "log-unavailable", title: "The erasure could not be recorded; retry later (the key is already destroyed)", headers: [.retryAfter: "1"])
        }
        context.logger.notice("customer erased", metadata: ["customer.id": "\(customerID)", "key.destroyed": "\(destroyed)"])
        let reply: JSONValue = ["customer_id": .string(customerID), "key_destroyed": .bool(destroyed), "event_id": .string(event.id.lowercaseString)]
        return jsonResponse(.accepted, bytes: reply.serialized())
    }

    /// The turn's reply from the log tail, or from the read model for a retried request whose
    /// reply went out before it listened (rechecked every half second: the projection can lag
    /// the tail by a few milliseconds).
    /// The slot prepared before the append listens throughout: a reply the tail sees between
    /// two rechecks is kept, not lost.
    func awaitReply(turnID: UUID, timeout: Duration) async throws -> ReplyDelivered? {
        await waiters.prepare(turnID)
        do {
            let reply = try await listen(turnID: turnID, timeout: timeout)
            await waiters.finish(turnID)
            return reply
        } catch {
            await waiters.finish(turnID)
            throw error
        }
    }

    private func listen(turnID: UUID, timeout: Duration) async throws -> ReplyDelivered? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let reply = try await deliveredReply(turnID: turnID) { return reply }
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero, await !waiters.isShuttingDownNow else { return nil }
            if let reply = await waiters.wait(turnID, timeout: min(remaining, .milliseconds(500))) { return reply }
        }
    }

    func deliveredReply(turnID: UUID) async throws -> ReplyDelivered? {
        guard let reply = try await conversations.reply(turn: turnID) else { return nil }
        return ReplyDelivered(replyID: reply.messageID, kind: ReplyKind(rawValue: reply.kind ?? "") ?? .answer, text: reply.text, channel: "api")
    }

    func getConversation(_ request: Request, context: EdgeRequestContext, principal: Principal) async throws -> Response {
        let conversationID = try Self.conversationID(context)
        let tenantID = principal.tenantID
        guard case (true, let conversation?) = try await visible(conversationID, to: principal) else { throw Self.conversationNotFound }
        let messages = try await conversations.messages(conversation: conversationID)
        let ticket = try await tickets.ticket(conversation: conversationID, tenant: tenantID)
        // Timestamp.format gives what to_char(… 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') gave when this
        // read SQL itself: the rows hold the events' milliseconds, nothing finer.
        let body: JSONValue = .object([
            "conversation_id": .string(conversation.conversationID),
            "customer_id": .string(conversation.customerID),
            "status": .string(conversation.status.rawValue),
            "owner": .string(conversation.owner.rawValue),
            "phase": .string(conversation.phase.rawValue),
            "turn_count": .number(Double(conversation.turnCount)),
            "first_activity_at": .string(Timestamp.format(millis: conversation.firstActivityMillis)),
            "last_activity_at": .string(Timestamp.format(millis: conversation.lastActivityMillis)),
            "messages": .array(messages.map { message in
                var fields: [String: JSONValue] = [
                    "message_id": .string(message.messageID.uuidString.lowercased()),
                    "turn_id": .string(message.turnID.uuidString.lowercased()),
                    "role": .string(message.role),
                    "text": .string(message.text),
                    "event_id": .string("\(message.logPartition)-\(message.logOffset)"),
                    "occurred_at": .string(Timestamp.format(millis: message.occurredAtMillis)),
                ]
                if let kind = message.kind { fields["kind"] = .string(kind) }
                if let agent = message.agentID { fields["agent_id"] = .string(agent) }
                return .object(fields)
            }),
            "ticket": ticket.map(Self.ticketJSON) ?? .null,
        ])
        return jsonResponse(.ok, bytes: body.serialized())
    }

    /// The case record from the planner's `cases` read model; null until it has one.
    static func ticketJSON(_ ticket: TicketQueries.Ticket) -> JSONValue {
        .object([
            "status": .string(ticket.status.rawValue),
            "intent": ticket.intent.map(JSONValue.string) ?? .null,
            "workflow": ticket.workflow.map(JSONValue.string) ?? .null,
            "decisions": .number(Double(ticket.decisionCount)),
            "facts": .array(ticket.facts.map { fact in
                .object([
                    "name": .string(fact.name),
                    "value": .string(fact.value),
                    "provenance": .string(fact.provenance),
                    "set_by_event": .string(fact.setByEvent.uuidString.lowercased()),
                ])
            }),
        ])
    }

    static func conversationID(_ context: EdgeRequestContext) throws -> String {
        guard let id = context.pathParameter(), EnvelopeRules.isValidAggregateID(id) else {
            throw ProblemDetails(.badRequest, kind: "invalid-conversation-id", title: "Conversation id must be 1-128 characters of A-Z a-z 0-9 . _ : -", field: "id")
        }
        return id
    }

    static func waitSeconds(_ request: Request) throws -> Int {
        guard let raw = request.uri.queryParameters.get("wait") else { return 0 }
        guard let seconds = Int(raw), (0...maxWaitSeconds).contains(seconds) else {
            throw ProblemDetails(.badRequest, kind: "invalid-wait", title: "wait must be an integer number of seconds from 0 to \(maxWaitSeconds)", field: "wait")
        }
        return seconds
    }

    /// Body rules: UTF-8 JSON object with `text` and (from a tenant's backend) `customer_id`.
    static func parseMessage(_ bytes: [UInt8]) throws -> IncomingMessage {
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw ProblemDetails(.badRequest, kind: "invalid-utf8", title: "Body is not valid UTF-8")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw ProblemDetails(.badRequest, kind: "invalid-json", title: "Body is not valid JSON", detail: String(describing: error))
        }
        guard case .object(let object) = value else {
            throw ProblemDetails(.badRequest, kind: "invalid-json", title: "Body must be a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { $0 != "customer_id" && $0 != "text" }) {
            throw ProblemDetails(.unprocessableContent, kind: "unknown-field", title: "Unknown field '\(unknown)'", field: unknown)
        }
        var customerID: String?
        if let value = object["customer_id"] {
            guard case .string(let given) = value else {
                throw ProblemDetails(.unprocessableContent, kind: "invalid-field", title: "customer_id must be a string", field: "customer_id")
            }
            guard EnvelopeRules.isValidAggregateID(given) else {
                throw ProblemDetails(.unprocessableContent, kind: "invalid-field", title: "customer_id must be 1-128 characters of A-Z a-z 0-9 . _ : -", field: "customer_id")
            }
            customerID = given
        }
        guard case .string(let text)? = object["text"] else {
            throw ProblemDetails(.unprocessableContent, kind: "invalid-field", title: "text is required and must be a string", field: "text")
        }
        guard !DocumentText.isBlank(text) else {
            throw ProblemDetails(.unprocessableContent, kind: "empty-text", title: "text must not be empty", field: "text")
        }
        guard text.count <= maxTextCharacters else {
            throw ProblemDetails(.unprocessableContent, kind: "text-too-long", title: "text must be at most \(maxTextCharacters) characters", field: "text")
        }
        // Postgres text cannot hold NUL; such a message could never be projected.
        guard !text.unicodeScalars.contains(where: { $0.value == 0 }) else {
            throw ProblemDetails(.unprocessableContent, kind: "invalid-field", title: "text must not contain NUL characters", field: "text")
        }
        return IncomingMessage(customerID: customerID, text: text)
    }
}
