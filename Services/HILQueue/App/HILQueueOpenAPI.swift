import APIContract

/// HILQueue's published API (`GET /openapi.json`, OpenAPI 3.1): the human agents' inbox and
/// approvals. Request bodies are validated against it before any handler runs; `make test`
/// fuzzes the running service against it. Every operation needs a token with `hil:agent` or
/// `hil:admin` (docs/SECURITY.md).
enum HILQueueOpenAPI {
    static let yaml = #"""
openapi: 3.1.0
info:
  title: Switchboard HILQueue
  version: "1"
  description: >
    Handed-over conversations, the human agents who take them, and approvals. An agent acts as
    its token's subject; agent_id in a body may be left out. Errors are application/problem+json.
servers:
  - url: /
security:
  - bearer: []
paths:
  /v1/handovers:
    get:
      operationId: listHandovers
      parameters: [{ name: status, in: query, schema: { enum: [requested, queued] } }]
      responses:
        "200": { description: The queue, content: { application/json: { schema: { type: object, required: [handovers] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/queue:
    get:
      operationId: queue
      parameters: [{ name: queue, in: query, schema: { type: string } }]
      responses:
        "200": { description: Waiting conversations, content: { application/json: { schema: { type: object, required: [conversations] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/conversations/{id}:
    get:
      operationId: conversation
      parameters: [{ $ref: "#/components/parameters/conversationID" }]
      responses:
        "200": { description: Phase, brief, transcript, approvals, content: { application/json: { schema: { type: object, required: [conversation_id, phase] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/claim:
    post:
      operationId: claim
      requestBody:
        required: false
        content:
          application/json:
            schema: { type: object, additionalProperties: false, properties: { agent_id: { type: string, minLength: 1, maxLength: 128, pattern: "^[^\\n\\r\\u000b\\u000c\\u0085\\u2028\\u2029]+$", x-problem-kind: invalid-agent } } }
      responses:
        "200": { description: Claimed, content: { application/json: { schema: { type: object, required: [conversation_id] } } } }
        "204": { description: Nothing waiting for the agent's skills }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/conversations/{id}/reply:
    post:
      operationId: reply
      parameters: [{ $ref: "#/components/parameters/conversationID" }]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [text]
              properties: { agent_id: { type: string, minLength: 1, maxLength: 128, pattern: "^[^\\n\\r\\u000b\\u000c\\u0085\\u2028\\u2029]+$", x-problem-kind: invalid-agent }, text: { type: string, minLength: 1, maxLength: 4000, pattern: "\\S", x-problem-kind: invalid-text } }
      responses:
        "200": { description: Done, content: { application/json: { schema: { type: object, required: [event_id, event_type] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/conversations/{id}/notes:
    post:
      operationId: note
      parameters: [{ $ref: "#/components/parameters/conversationID" }]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [text]
              properties: { agent_id: { type: string, minLength: 1, maxLength: 128, pattern: "^[^\\n\\r\\u000b\\u000c\\u0085\\u2028\\u2029]+$", x-problem-kind: invalid-agent }, text: { type: string, minLength: 1, maxLength: 4000, pattern: "\\S", x-problem-kind: invalid-text } }
      responses:
        "200": { description: Done, content: { application/json: { schema: { type: object, required: [event_id, event_type] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/conversations/{id}/transfer:
    post:
      operationId: transfer
      parameters: [{ $ref: "#/components/parameters/conversationID" }]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              # Exactly one target: an agent or a queue.
              oneOf: [{ required: [to_agent], not: { required: [to_queue] } }, { required: [to_queue], not: { required: [to_agent] } }]
              x-problem-kind: invalid-transfer
              properties:
                agent_id: { type: string, minLength: 1, maxLength: 128, pattern: "^[^\\n\\r\\u000b\\u000c\\u0085\\u2028\\u2029]+$", x-problem-kind: invalid-agent }
                to_agent: { type: string, minLength: 1, maxLength: 128, pattern: "^[^\\n\\r\\u000b\\u000c\\u0085\\u2028\\u2029]+$", x-problem-kind: invalid-to-agent }
                to_queue: { type: string, minLength: 1, maxLength: 128, pattern: "^[^\\n\\r\\u000b\\u000c\\u0085\\u2028\\u2029]+$", x-problem-kind: invalid-to-queue }
                note: { type: string, maxLength: 2000, x-problem-kind: invalid-note }
      responses:
        "200": { description: Done, content: { application/json: { schema: { type: object, required: [event_id, event_type] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/conversations/{id}/resolve:
    post:
      operationId: resolve
      parameters: [{ $ref: "#/components/parameters/conversationID" }]
      requestBody:
        required: true
        content:
          application/json:
            schema: { type: object, additionalProperties: false, properties: { agent_id: { type: string, minLength: 1, maxLength: 128, pattern: "^[^\\n\\r\\u000b\\u000c\\u0085\\u2028\\u2029]+$", x-problem-kind: invalid-agent }, note: { type: string, maxLength: 2000, x-problem-kind: invalid-note } } }
      responses:
        "200": { description: Done, content: { application/json: { schema: { type: object, required: [event_id, event_type] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/conversations/{id}/back-to-ai:
    post:
      operationId: backToAI
      parameters: [{ $ref: "#/components/parameters/conversationID" }]
      requestBody:
        required: true
        content:
          application/json:
            schema: { type: object, additionalProperties: false, properties: { agent_id: { type: string, minLength: 1, maxLength: 128, pattern: "^[^\\n\\r\\u000b\\u000c\\u0085\\u2028\\u2029]+$", x-problem-kind: invalid-agent }, note: { type: string, maxLength: 2000, x-problem-kind: invalid-note } } }
      responses:
        "200": { description: Done, content: { application/json: { schema: { type: object, required: [event_id, event_type] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/agents:
    get:
      operationId: agents
      responses:
        "200": { description: Profiles, status and load, content: { application/json: { schema: { type: object, required: [agents] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/agents/{id}:
    put:
      operationId: saveAgent
      summary: Create or change an agent's profile (hil:admin).
      parameters: [{ $ref: "#/components/parameters/agentID" }]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [name, skills, capacity]
              properties:
                name: { type: string, minLength: 1, maxLength: 200, pattern: "\\S", x-problem-kind: invalid-name }
                skills: { type: array, minItems: 1, maxItems: 50, items: { type: string, minLength: 1, maxLength: 64 }, x-problem-kind: invalid-skills }
                capacity: { type: integer, minimum: 0, maximum: 100, x-problem-kind: invalid-capacity }
                status: { enum: [online, away, offline], x-problem-kind: invalid-status }
      responses:
        "200": { description: The agent, content: { application/json: { schema: { type: object, required: [agent_id] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/agents/{id}/status:
    post:
      operationId: agentStatus
      parameters: [{ $ref: "#/components/parameters/agentID" }]
      requestBody:
        required: true
        content:
          application/json:
            schema: { type: object, additionalProperties: false, required: [status], properties: { status: { enum: [online, away, offline], x-problem-kind: invalid-status } } }
      responses:
        "200": { description: The agent, content: { application/json: { schema: { type: object, required: [agent_id] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/agents/{id}/heartbeat:
    post:
      operationId: heartbeat
      parameters: [{ $ref: "#/components/parameters/agentID" }]
      responses:
        "204": { description: Still there }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/agents/{id}/conversations:
    get:
      operationId: held
      parameters: [{ $ref: "#/components/parameters/agentID" }]
      responses:
        "200": { description: What the agent holds, content: { application/json: { schema: { type: object, required: [conversations] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/hil/stream:
    get:
      operationId: inboxStream
      summary: Server-sent `changed` events for open inboxes; the token may come as access_token.
      parameters: [{ name: access_token, in: query, schema: { type: string } }]
      responses:
        "200": { description: An event stream, content: { text/event-stream: { schema: { type: string } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
  /v1/approvals:
    get:
      operationId: approvals
      parameters: [{ name: status, in: query, schema: { enum: [pending, granted, denied, expired] } }]
      responses:
        "200": { description: Approvals, content: { application/json: { schema: { type: object, required: [approvals] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/approvals/{id}:
    get:
      operationId: approval
      parameters: [{ $ref: "#/components/parameters/approvalID" }]
      responses:
        "200": { description: The approval with its dry run, content: { application/json: { schema: { type: object, required: [approval_id, status] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/approvals/{id}/approve:
    post:
      operationId: approve
      parameters: [{ $ref: "#/components/parameters/approvalID" }]
      requestBody:
        required: false
        content:
          application/json:
            schema: { type: object, additionalProperties: false, properties: { agent_id: { type: string, minLength: 1, maxLength: 128, pattern: "^[^\\n\\r\\u000b\\u000c\\u0085\\u2028\\u2029]+$", x-problem-kind: invalid-agent }, note: { type: string, maxLength: 2000, x-problem-kind: invalid-note } } }
      responses:
        "200": { description: Decided, content: { application/json: { schema: { type: object, required: [approval_id, status] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/approvals/{id}/deny:
    post:
      operationId: deny
      parameters: [{ $ref: "#/components/parameters/approvalID" }]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [reason]
              properties: { agent_id: { type: string, minLength: 1, maxLength: 128, pattern: "^[^\\n\\r\\u000b\\u000c\\u0085\\u2028\\u2029]+$", x-problem-kind: invalid-agent }, reason: { type: string, minLength: 1, maxLength: 2000, pattern: "\\S", x-problem-kind: invalid-reason } }
      responses:
        "200": { description: Decided, content: { application/json: { schema: { type: object, required: [approval_id, status] } } } }
        "4XX": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
components:
  securitySchemes:
    bearer:
      type: http
      scheme: bearer
      description: An agent's JWT (hil:agent, subject = agent id), or an API key `sb_…` with hil:admin.
  parameters:
    conversationID: { name: id, in: path, required: true, schema: { type: string, minLength: 1, maxLength: 200 } }
    agentID: { name: id, in: path, required: true, schema: { type: string, minLength: 1, maxLength: 128 } }
    approvalID: { name: id, in: path, required: true, schema: { type: string } }
  responses:
\#(ProblemComponents.response)
  schemas:
\#(ProblemComponents.schema)
"""#
}
