/// The embeddable chat widget (`GET /widget.js`) and a demo page that mounts it (`GET /`):
/// plain JavaScript and CSS, no build step. The widget appends messages with the message API
/// and shows the conversation from its stream only (history, then live: the AI's replies, a
/// human agent's, an approved action's), so there is one order, the log's, and a reconnect
/// (EventSource resends Last-Event-ID) neither loses nor repeats a line.
///
///     <div id="chat"></div>
///     <script src="https://support.example.com/widget.js"></script>
///     <script>Switchboard.mount(document.getElementById("chat"), { token: sessionTokenFromYourBackend })</script>
///
/// The token is a customer session (`POST /v1/sessions` from the shop's backend, docs/SECURITY.md):
/// it names the customer, so the widget sends no customer id. `getToken`, if given, is called
/// for a fresh one when the gateway answers 401.
enum WidgetAssets {
    static let script = #"""
(function () {
  "use strict";
  const css = `
    .sb-chat { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; border: 1px solid #d8dde3; border-radius: 10px;
               width: 360px; height: 480px; display: flex; flex-direction: column; background: #fff; }
    .sb-chat header { padding: 10px 12px; border-bottom: 1px solid #d8dde3; font-weight: 600; }
    .sb-chat .sb-log { flex: 1; overflow-y: auto; padding: 8px 12px; }
    .sb-chat .sb-msg { margin: 6px 0; padding: 6px 9px; border-radius: 8px; max-width: 85%; white-space: pre-wrap; }
    .sb-chat .sb-msg.customer { background: #1f5fbf; color: #fff; margin-left: auto; }
    .sb-chat .sb-msg.assistant { background: #eef2f7; }
    .sb-chat .sb-msg.agent { background: #e6f6ea; }
    .sb-chat .sb-who { font-size: 11px; color: #5f6b7a; }
    .sb-chat form { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #d8dde3; }
    .sb-chat input { flex: 1; font: inherit; padding: 6px 8px; border: 1px solid #d8dde3; border-radius: 6px; }
    .sb-chat button { font: inherit; padding: 6px 12px; border: 0; border-radius: 6px; background: #1f5fbf; color: #fff; }
    .sb-chat .sb-status { font-size: 11px; color: #5f6b7a; padding: 0 12px 6px; }`;

  function mount(element, options) {
    const base = (options && options.baseURL) || "";
    let token = (options && options.token) || "";
    const getToken = options && options.getToken;
    // The customer a session token speaks for (its `cid` claim): conversations are kept per customer.
    let customerId = "guest";
    try { customerId = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).cid || customerId; } catch (e) {}
    const key = "switchboard.conversation." + customerId;
    const conversation = (options && options.conversationId) || localStorage.getItem(key) ||
      "web-" + Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
    localStorage.setItem(key, conversation);

    if (!document.getElementById("sb-style")) {
      const style = document.createElement("style");
      style.id = "sb-style";
      style.textContent = css;
      document.head.append(style);
    }
    element.classList.add("sb-chat");
    element.innerHTML = `<header>${(options && options.title) || "Support"}</header><div class="sb-log" role="log" aria-live="polite"></div>
      <div class="sb-status"></div><form><input name="text" autocomplete="off" placeholder="Type a message" maxlength="4000"><button type="submit">Send</button></form>`;
    const log = element.querySelector(".sb-log");
    const status = element.querySelector(".sb-status");
    const form = element.querySelector("form");
    const seen = new Set();

    function show(message) {
      if (seen.has(message.message_id)) return;
      seen.add(message.message_id);
      const line = document.createElement("div");
      line.className = "sb-msg " + message.role;
      line.dataset.role = message.role;
      if (message.role !== "customer") {
        const who = document.createElement("div");
        who.className = "sb-who";
        who.textContent = message.role === "agent" ? "Support team" : "Assistant";
        line.append(who);
      }
      line.append(document.createTextNode(message.text));
      log.append(line);
      log.scrollTop = log.scrollHeight;
    }

    // EventSource cannot send headers: the token goes in access_token (streams only).
    let stream;
    function openStream() {
      if (stream) stream.close();
      stream = new EventSource(`${base}/v1/conversations/${encodeURIComponent(conversation)}/stream?access_token=${encodeURIComponent(token)}`);
      stream.addEventListener("message", (event) => show(JSON.parse(event.data)));
      stream.onopen = () => { status.textContent = ""; };
      stream.onerror = () => { status.textContent = "Reconnecting…"; };
    }
    openStream();

    async function send(text) {
      return fetch(`${base}/v1/conversations/${encodeURIComponent(conversation)}/messages`, {
        method: "POST", headers: { "content-type": "application/json", "authorization": "Bearer " + token,
                                   "idempotency-key": crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) },
        body: JSON.stringify({ customer_id: customerId, text }),
      });
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = form.elements.text;
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      try {
        let response = await send(text);
        if (response.status === 401 && getToken) {
          token = await getToken();
          openStream();
          response = await send(text);
        }
        if (!response.ok) {
          const problem = await response.json().catch(() => ({}));
          status.textContent = problem.title || "Could not send; please try again.";
          input.value = text;
        }
      } catch (error) {
        status.textContent = "Could not send; please try again.";
        input.value = text;
      }
    });
    return { conversationId: conversation, close: () => stream.close() };
  }

  window.Switchboard = { mount };
})();
"""#

    static let demoPage = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard demo shop</title>
<style>
  body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f6f7f9; color: #1c2430; }
  .page { max-width: 960px; margin: 0 auto; padding: 24px; display: grid; grid-template-columns: 1fr 380px; gap: 24px; }
  code { background: #eef2f7; padding: 1px 4px; border-radius: 4px; }
</style>
</head>
<body>
<div class="page">
  <div>
    <h1>Demo shop</h1>
    <p>Ask the assistant about an order (try <code>Where is my order ABC123?</code>), ask for a refund
       (<code>Please refund $80 for order DEF456</code>), or ask for a person.</p>
    <p>Human agents answer from the inbox on the HILQueue service (<code>/inbox</code>); their replies
       appear here as they are sent.</p>
  </div>
  <div id="chat"></div>
</div>
<script src="/widget.js"></script>
<script>
  // The demo's customer session comes in the address's fragment (`make up` prints the link);
  // a real shop gets it from its backend (POST /v1/sessions).
  const params = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("session")) sessionStorage.setItem("switchboard.session", fragment.get("session"));
  window.chat = Switchboard.mount(document.getElementById("chat"), {
    token: sessionStorage.getItem("switchboard.session") || "", conversationId: params.get("conversation") || undefined, title: "Demo shop support",
  });
</script>
</body>
</html>
"""#
}
