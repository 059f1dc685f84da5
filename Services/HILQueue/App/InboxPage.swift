/// The agent inbox (`GET /inbox`): one page of plain HTML, CSS and JavaScript over the inbox
/// API, no build step. The agent signs in with a token from the tenant's identity provider
/// (`hil:agent`, subject = agent id): given in the address's fragment (`/inbox#token=…`, how
/// `make up` and single sign-on redirects hand it over) or pasted into the sign-in form. It is
/// kept in this tab's sessionStorage only and sent as a bearer token.
/// The queue by skill, claim, a conversation with its brief and history, approvals with their
/// diffs, reply, internal note, transfer, resolve, back to AI; live over `/v1/hil/stream`.
enum InboxPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard inbox</title>
<style>
  :root { --line: #d8dde3; --muted: #5f6b7a; --accent: #1f5fbf; --warn: #b3261e; --bg: #f6f7f9; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1c2430; background: var(--bg); }
  header { display: flex; gap: 12px; align-items: center; padding: 10px 16px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 16px; margin: 0 12px 0 0; }
  main { display: grid; grid-template-columns: 320px 1fr 360px; gap: 12px; padding: 12px; height: calc(100vh - 52px); }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px; overflow: auto; }
  h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 6px 0; }
  h2 .meta { text-transform: none; letter-spacing: normal; }
  button { font: inherit; padding: 5px 10px; border-radius: 6px; border: 1px solid var(--line); background: #fff; cursor: pointer; }
  button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
  button:disabled { opacity: .5; cursor: default; }
  textarea, input, select { font: inherit; width: 100%; padding: 6px; border: 1px solid var(--line); border-radius: 6px; }
  .item { border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; margin: 6px 0; cursor: pointer; }
  .item.sla { border-color: var(--warn); }
  .meta { color: var(--muted); font-size: 12px; }
  .brief { white-space: pre-wrap; background: #fffbea; border: 1px solid #f1e3a0; border-radius: 6px; padding: 8px; }
  .msg { margin: 6px 0; padding: 6px 8px; border-radius: 6px; max-width: 85%; white-space: pre-wrap; }
  .msg.customer { background: #eef2f7; }
  .msg.assistant { background: #e8f1ff; margin-left: auto; }
  .msg.agent { background: #e6f6ea; margin-left: auto; }
  .msg.note { background: #fff4e5; border: 1px dashed #e0a040; }
  .row { display: flex; gap: 6px; margin: 6px 0; }
  table.diff { width: 100%; border-collapse: collapse; font-size: 12px; }
  table.diff td, table.diff th { border-bottom: 1px solid var(--line); padding: 3px; text-align: left; }
  #status-line { margin-left: auto; color: var(--muted); }
</style>
</head>
<body>
<header>
  <h1>Switchboard inbox</h1>
  <span id="who" class="meta"></span>
  <button id="sign-out">Sign out</button>
  <button id="go-online">Go online</button>
  <button id="go-offline">Go offline</button>
  <button id="claim-next" class="primary">Claim next</button>
  <span id="status-line">connecting…</span>
</header>
<form id="login" hidden>
  <h2>Sign in</h2>
  <p>Paste the agent token your identity provider issued (scope <code>hil:agent</code>).</p>
  <textarea id="login-token" rows="4" cols="80" autocomplete="off"></textarea>
  <button class="primary" type="submit">Sign in</button>
</form>
<main>
  <section>
    <h2>Waiting, by queue</h2>
    <div id="queue"></div>
    <h2>Mine</h2>
    <div id="mine"></div>
  </section>
  <section id="conversation">
    <h2>Conversation <span id="conversation-id" class="meta"></span> <span id="conversation-phase" class="meta"></span></h2>
    <div id="summary" class="brief">Claim a conversation or pick one of yours.</div>
    <div id="transcript"></div>
    <div class="row"><textarea id="reply-text" rows="2" placeholder="Reply to the customer"></textarea><button id="send-reply" class="primary">Send</button></div>
    <div class="row"><textarea id="note-text" rows="1" placeholder="Internal note (never shown to the customer)"></textarea><button id="add-note">Add note</button></div>
    <div class="row">
      <input id="handback-note" placeholder="Note for the AI / resolution note">
      <button id="back-to-ai">Back to AI</button>
      <button id="resolve">Resolve</button>
    </div>
    <div class="row">
      <input id="transfer-target" placeholder="agent id or queue:skill">
      <button id="transfer">Transfer</button>
    </div>
    <div id="conversation-approvals"></div>
  </section>
  <section>
    <h2>Approvals</h2>
    <div id="approvals"></div>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) { sessionStorage.setItem("switchboard.agent-token", fragment.get("token")); history.replaceState(null, "", location.pathname); }
const token = sessionStorage.getItem("switchboard.agent-token") || "";
function claims(jwt) {
  try { return JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); } catch (e) { return {}; }
}
const state = { agent: claims(token).sub || "", open: null, heartbeat: null };
function signIn() { $("login").hidden = false; document.querySelector("main").hidden = true; say("signed out"); }
$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("switchboard.agent-token", $("login-token").value.trim());
  location.reload();
});
$("sign-out").addEventListener("click", () => { sessionStorage.removeItem("switchboard.agent-token"); location.reload(); });
function authorized(headers) { return { ...headers, authorization: "Bearer " + token }; }

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: authorized(body ? { "content-type": "application/json" } : {}), body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 401) { signIn(); throw new Error("signed out: the token was not accepted"); }
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const problem = json || {};
    throw new Error((problem.title || response.status) + (problem.detail ? ": " + problem.detail : ""));
  }
  return json;
}

function say(text) { $("status-line").textContent = text; }
// Re-renders a part only when its data changed, so a refresh does not wipe what the agent is
// typing (a denial's reason) or the element they are about to click.
const rendered = {};
function render(id, data, build) {
  const key = JSON.stringify(data);
  if (rendered[id] === key) return;
  rendered[id] = key;
  $(id).replaceChildren(...build());
}
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key === "class") node.className = value; else if (key.startsWith("on")) node.addEventListener(key.slice(2), value); else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}
function waited(since) {
  if (!since) return "";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  return seconds < 120 ? seconds + " s" : Math.round(seconds / 60) + " min";
}

async function loadAgents() {
  const { agents } = await api("GET", "/v1/hil/agents");
  const me = agents.find((a) => a.agent_id === state.agent);
  $("who").textContent = me ? `${me.name} (${me.skills.join(", ")}) — ${me.status}, ${me.load}/${me.capacity}` : state.agent + " (no agent profile)";
}

async function refresh() {
  try {
    await loadAgents();
    const { conversations } = await api("GET", "/v1/hil/queue");
    const byQueue = {};
    for (const c of conversations) (byQueue[c.queue] = byQueue[c.queue] || []).push(c);
    $("queue").replaceChildren(...Object.keys(byQueue).sort().flatMap((queue) => [
      el("div", { class: "meta" }, `${queue} (${byQueue[queue].length})`),
      ...byQueue[queue].map((c) => el("div", { class: "item" + (c.sla_breached ? " sla" : ""), "data-conversation": c.conversation_id },
        el("div", {}, c.conversation_id), el("div", { class: "meta" }, `${c.reason} · waiting ${waited(c.queued_at)}${c.sla_breached ? " · SLA breached" : ""}`))),
    ]));
    if (!conversations.length) $("queue").replaceChildren(el("div", { class: "meta" }, "Nobody is waiting."));
    if (state.agent) {
      const mine = (await api("GET", `/v1/hil/agents/${encodeURIComponent(state.agent)}/conversations`)).conversations;
      $("mine").replaceChildren(...mine.map((c) => el("div", { class: "item", "data-conversation": c.conversation_id, onclick: () => openConversation(c.conversation_id) },
        el("div", {}, c.conversation_id), el("div", { class: "meta" }, `${c.queue} · ${c.reason}`))));
    }
    const { approvals } = await api("GET", "/v1/approvals");
    render("approvals", approvals, () => approvals.length ? approvals.map(approvalCard) : [el("div", { class: "meta" }, "No approvals waiting.")]);
    if (state.open) await openConversation(state.open, true);
  } catch (error) {
    say("error: " + error.message);
  }
}

function diffTable(preview) {
  const rows = (preview && preview.changes) || [];
  return el("table", { class: "diff" }, el("tr", {}, el("th", {}, "what"), el("th", {}, "before"), el("th", {}, "after")),
    ...rows.map((c) => el("tr", {}, el("td", {}, `${c.target} ${c.field}`), el("td", {}, JSON.stringify(c.before)), el("td", {}, JSON.stringify(c.after)))));
}

function approvalCard(a) {
  const reason = el("input", { placeholder: "reason (needed to deny)", class: "deny-reason" });
  return el("div", { class: "item approval", "data-approval": a.approval_id, "data-conversation": a.conversation_id },
    el("div", {}, `${a.tool} in ${a.conversation_id}`),
    el("div", { class: "meta" }, (a.preview && a.preview.summary) || a.reason),
    diffTable(a.preview),
    el("div", { class: "row" }, reason,
      el("button", { class: "primary approve", onclick: () => decide(a.approval_id, "approve", { agent_id: state.agent }) }, "Approve"),
      el("button", { class: "deny", onclick: () => decide(a.approval_id, "deny", { agent_id: state.agent, reason: reason.value }) }, "Deny")));
}

async function decide(id, verb, body) {
  try { await api("POST", `/v1/approvals/${id}/${verb}`, body); say(`${verb}d`); await refresh(); } catch (error) { say("error: " + error.message); }
}

async function openConversation(id, quiet) {
  const c = await api("GET", `/v1/hil/conversations/${encodeURIComponent(id)}`);
  state.open = id;
  $("conversation-id").textContent = id;
  $("conversation-phase").textContent = c.phase + (c.agent_id ? " · " + c.agent_id : "");
  $("summary").textContent = c.summary || "(no brief)";
  render("transcript", c.transcript, () => c.transcript.map((m) => el("div", { class: "msg " + m.role, "data-role": m.role },
    el("div", { class: "meta" }, m.role === "note" ? `note by ${m.agent_id}` : m.role === "agent" ? m.agent_id : m.role), m.text)));
  const pending = c.approvals.filter((a) => a.status === "pending");
  render("conversation-approvals", pending, () => pending.map(approvalCard));
  if (!quiet) say(`opened ${id}`);
}

async function act(path, body, done) {
  if (!state.open) return say("no conversation open");
  try {
    const result = await api("POST", `/v1/hil/conversations/${encodeURIComponent(state.open)}/${path}`, { agent_id: state.agent, ...body });
    say(done + " (" + (result.phase || "") + ")");
    if (done) await refresh();
  } catch (error) { say("error: " + error.message); }
}

async function setStatus(status) {
  try {
    await api("POST", `/v1/hil/agents/${encodeURIComponent(state.agent)}/status`, { status });
    clearInterval(state.heartbeat);
    if (status === "online") state.heartbeat = setInterval(() => api("POST", `/v1/hil/agents/${encodeURIComponent(state.agent)}/heartbeat`).catch(() => {}), 20000);
    say(state.agent + " is " + status);
    await refresh();
  } catch (error) { say("error: " + error.message); }
}

$("go-online").addEventListener("click", () => setStatus("online"));
$("go-offline").addEventListener("click", () => setStatus("offline"));
$("claim-next").addEventListener("click", async () => {
  try {
    const response = await fetch("/v1/hil/claim", { method: "POST", headers: authorized({ "content-type": "application/json" }), body: JSON.stringify({}) });
    if (response.status === 204) return say("nothing waiting for your skills");
    const json = await response.json();
    if (!response.ok) return say("error: " + json.title + (json.detail ? ": " + json.detail : ""));
    say("claimed " + json.conversation_id);
    state.open = json.conversation_id;
    await refresh();
  } catch (error) { say("error: " + error.message); }
});
$("send-reply").addEventListener("click", async () => { const text = $("reply-text").value; if (!text.trim()) return; await act("reply", { text }, "sent"); $("reply-text").value = ""; });
$("add-note").addEventListener("click", async () => { const text = $("note-text").value; if (!text.trim()) return; await act("notes", { text }, "noted"); $("note-text").value = ""; });
$("resolve").addEventListener("click", () => act("resolve", { note: $("handback-note").value }, "resolved"));
$("back-to-ai").addEventListener("click", () => act("back-to-ai", { note: $("handback-note").value }, "handed back"));
$("transfer").addEventListener("click", () => {
  const target = $("transfer-target").value.trim();
  if (!target) return;
  act("transfer", target.startsWith("queue:") ? { to_queue: target.slice(6) } : { to_agent: target }, "transferred");
});

if (!token) {
  signIn();
} else {
  // EventSource cannot send headers: the token goes in access_token (streams only).
  const changes = new EventSource("/v1/hil/stream?access_token=" + encodeURIComponent(token));
  changes.addEventListener("changed", () => refresh());
  changes.onerror = () => say("reconnecting…");
  changes.onopen = () => say("live");
}
</script>
</body>
</html>
"""#
}
