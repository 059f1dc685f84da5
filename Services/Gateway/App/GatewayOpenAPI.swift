import APIContract

/// The gateway's published API (`GET /openapi.json`, OpenAPI 3.1): every request body is
/// validated against it before a handler runs (`SecuredRoutes`), and `make test` fuzzes the
/// running service against it (schemathesis). Request body schemas are inline (no `$ref`), so
/// each compiles on its own.
enum GatewayOpenAPI {
    static let yaml = #"""
openapi: 3.1.0
info:
  title: Switchboard gateway
  version: "1"
  description: >
    The customer-facing chat API and the operators' read API. Every operation needs a bearer
    token or an API key (docs/SECURITY.md) except the widget's pages. Errors are
    application/problem+json (RFC 9457).
servers:
  - url: /
security:
  - bearer: []
paths:
  /v1/conversations/{id}/messages:
    post:
      operationId: postMessage
      summary: A customer's message (scope chat:send). With ?wait=N the reply is awaited up to N seconds.
      parameters:
        - $ref: "#/components/parameters/conversationID"
        - name: wait
          in: query
          schema: { type: integer, minimum: 0, maximum: 30 }
        - name: Idempotency-Key
          in: header
          schema: { type: string, minLength: 1, maxLength: 128, pattern: "^[!-~]+$" }
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [customer_id, text]
              properties:
                customer_id: { type: string, minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._:-]+$", description: "The customer; a customer session's own." }
                text: { type: string, minLength: 1, maxLength: 4000, pattern: "\\S", x-problem-kind: { minLength: empty-text, pattern: empty-text, maxLength: text-too-long } }
      responses:
        "200": { description: Replied within the wait, content: { application/json: { schema: { $ref: "#/components/schemas/Accepted" } } } }
        "202": { description: Appended to the log, content: { application/json: { schema: { $ref: "#/components/schemas/Accepted" } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/conversations/{id}:
    get:
      operationId: getConversation
      summary: A conversation with its messages and case (conversations:read, or the customer's own session).
      parameters: [{ $ref: "#/components/parameters/conversationID" }]
      responses:
        "200": { description: The conversation, content: { application/json: { schema: { type: object, required: [conversation_id, messages] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/conversations/{id}/stream:
    get:
      operationId: streamConversation
      summary: The conversation's messages as server-sent events; the token may come as access_token.
      parameters:
        - $ref: "#/components/parameters/conversationID"
        - { name: last_event_id, in: query, schema: { type: string } }
        - { name: access_token, in: query, schema: { type: string } }
      responses:
        "200": { description: An event stream, content: { text/event-stream: { schema: { type: string } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
  /v1/conversations/{id}/answer-by-email:
    post:
      operationId: answerByEmail
      summary: Leave a question to be answered by email (offered with a 503 overloaded; scope chat:send).
      parameters: [{ $ref: "#/components/parameters/conversationID" }]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [customer_id, email, text]
              properties:
                customer_id: { type: string, minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._:-]+$" }
                email: { type: string, maxLength: 254, pattern: "^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\\.[A-Za-z0-9-]{1,63})*\\.[A-Za-z]{2,24}$" }
                text: { type: string, minLength: 1, maxLength: 4000, pattern: "\\S" }
      responses:
        "202": { description: Recorded, content: { application/json: { schema: { type: object, required: [status, event_id] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/sessions:
    post:
      operationId: createSession
      summary: A short-lived customer session token for the chat widget (a tenant backend's credential with chat:send).
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [customer_id]
              properties:
                customer_id: { type: string, minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._:-]+$" }
                ttl_seconds: { type: integer, minimum: 60, maximum: 3600 }
      responses:
        "201": { description: A session token, content: { application/json: { schema: { type: object, required: [token, expires_in] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/conversations:
    get:
      operationId: listConversations
      summary: Conversations newest first, keyset paged (conversations:read).
      parameters:
        - { name: status, in: query, schema: { enum: [open, handed_over] } }
        - { name: owner, in: query, schema: { enum: [ai, human] } }
        - { name: customer_id, in: query, schema: { type: string, minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._:-]+$" } }
        - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 200 } }
        - { name: cursor, in: query, schema: { type: string, pattern: "^[0-9]{1,18}\\.[A-Za-z0-9._:-]{1,128}$", description: "The next_cursor of the previous page." } }
      responses:
        "200": { description: A page, content: { application/json: { schema: { type: object, required: [conversations] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/conversations/{id}/events:
    get:
      operationId: conversationEvents
      summary: The conversation's events in log order (conversations:read).
      parameters:
        - $ref: "#/components/parameters/conversationID"
        - { name: after, in: query, schema: { type: integer, minimum: 0, maximum: 9007199254740991 } }
        - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 200 } }
      responses:
        "200": { description: A page of envelopes, content: { application/json: { schema: { type: object, required: [events] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/costs/summary:
    get:
      operationId: costSummary
      summary: Language-model spend of a period (analytics:read).
      parameters:
        - { name: period, in: query, schema: { enum: [hour, day, month] } }
        - { name: group_by, in: query, schema: { enum: [model, tenant, conversation] } }
        - { name: at, in: query, schema: { type: string, format: date-time } }
      responses:
        "200": { description: Spend, content: { application/json: { schema: { type: object } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/kpis:
    get:
      operationId: kpis
      summary: Automation, escalation and approval rates per intent and rollout mode (analytics:read).
      parameters:
        - { name: from, in: query, schema: { type: string, format: date-time } }
        - { name: to, in: query, schema: { type: string, format: date-time } }
      responses:
        "200": { description: KPIs, content: { application/json: { schema: { type: object, required: [intents] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/customers/{id}/memory-consent:
    put:
      operationId: memoryConsent
      summary: Allow or withdraw memory across conversations (the customer's own session, or admin).
      parameters: [{ $ref: "#/components/parameters/customerID" }]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [granted]
              properties:
                granted: { type: boolean }
                ttl_seconds: { type: integer, minimum: 1, maximum: 31536000 }
      responses:
        "202": { description: Recorded, content: { application/json: { schema: { type: object } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/customers/{id}:
    delete:
      operationId: eraseCustomer
      summary: Erase a customer (admin) by destroying their key; CustomerErased is appended.
      parameters: [{ $ref: "#/components/parameters/customerID" }]
      responses:
        "202": { description: Erased, content: { application/json: { schema: { type: object, required: [customer_id, key_destroyed] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
components:
  securitySchemes:
    bearer:
      type: http
      scheme: bearer
      description: A JWT (a user, an agent or a customer session), or an API key `sb_…` (also accepted in X-API-Key).
  parameters:
    conversationID:
      name: id
      in: path
      required: true
      schema: { type: string, minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._:-]+$" }
    customerID:
      name: id
      in: path
      required: true
      schema: { type: string, minLength: 1, maxLength: 119, pattern: "^[A-Za-z0-9._:-]+$" }
  responses:
\#(ProblemComponents.response)
  schemas:
\#(ProblemComponents.schema)
    Accepted:
      type: object
      required: [turn_id, message_id, conversation_id, status]
      properties:
        turn_id: { type: string }
        message_id: { type: string }
        conversation_id: { type: string }
        status: { enum: [accepted, replied] }
        reply: { type: object }
"""#
}
