import Events
import Foundation
import JSON

/// The HTML report of a run: the summary, every scenario's verdict, and for each failing
/// scenario its transcript and its trace (every event of the conversation, in log order).
/// One self-contained file, no scripts.
public enum EvalReport {
    public static func html(_ summary: EvalSummary) -> String {
        var out = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Switchboard eval: \(escape(summary.suite))</title>
            <style>
            body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2433}table{border-collapse:collapse;margin:1rem 0}
            td,th{border:1px solid #d5d9e2;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f3f5f9}
            .pass{color:#17703a}.fail{color:#b3261e;font-weight:600}.customer{background:#eef4ff}.assistant{background:#f6f6f6}
            .msg{padding:.4rem .6rem;margin:.25rem 0;border-radius:6px;max-width:48rem;white-space:pre-wrap}
            pre{background:#f7f7f9;padding:.5rem;overflow:auto;font-size:12px}details{margin:.5rem 0 1.5rem}
            </style></head><body>
            <h1>Suite \(escape(summary.suite))</h1>
            <pre>\(escape(summary.table().components(separatedBy: "\n").suffix(5).joined(separator: "\n")))</pre>
            <table><tr><th>scenario</th><th>tags</th><th>result</th><th>turns</th><th>intent</th><th>tools run</th><th>handover</th></tr>
            """
        for result in summary.results {
            let id = escape(result.scenario.id)
            let verdict = result.passed ? "<span class=pass>pass</span>" : "<a class=fail href=\"#\(id)\">FAIL</a>"
            out += "<tr><td>\(id)</td><td>\(escape(result.scenario.tags.joined(separator: ", ")))</td><td>\(verdict)</td><td>\(result.turns.count)</td>"
                + "<td>\(escape(result.intent ?? "-"))</td><td>\(escape(result.toolsCalled.joined(separator: ", ")))</td><td>\(escape(result.handoverReason ?? "-"))</td></tr>\n"
        }
        out += "</table>\n"
        for result in summary.results where !result.passed {
            let id = escape(result.scenario.id)
            out += "<h2 id=\"\(id)\">\(id)</h2>\n"
            if let description = result.scenario.description { out += "<p>\(escape(description))</p>\n" }
            out += "<p>Conversation <code>\(escape(result.conversationID))</code></p><ul>"
            for failure in result.failures { out += "<li class=fail>\(escape(failure))</li>" }
            out += "</ul><h3>Transcript</h3>\n"
            for line in transcript(result.events) {
                out += "<div class=\"msg \(line.role)\"><b>\(line.role)</b>: \(escape(line.text))</div>\n"
            }
            out += "<details><summary>Trace: \(result.events.count) events</summary><table><tr><th>+ms</th><th>type</th><th>producer</th><th>payload</th></tr>\n"
            let start = result.events.first?.occurredAtMillis ?? 0
            for event in result.events {
                out += "<tr><td>\(event.occurredAtMillis - start)</td><td>\(escape(event.type))</td><td>\(escape(event.producer))</td><td><pre>\(escape(event.payload.serializedString()))</pre></td></tr>\n"
            }
            out += "</table></details>\n"
        }
        return out + "</body></html>\n"
    }

    /// Who said what, from the log: the customer's messages and what was delivered to them.
    static func transcript(_ events: [EventEnvelope]) -> [(role: String, text: String)] {
        events.compactMap { event in
            switch event.type {
            case MessageReceived.eventType: (try? event.decode(MessageReceived.self)).map { ("customer", $0.text) }
            case ReplyDelivered.eventType: (try? event.decode(ReplyDelivered.self)).map { ("assistant", "[\($0.kind.rawValue)] " + $0.text) }
            case HandoverRequested.eventType: (try? event.decode(HandoverRequested.self)).map { ("assistant", "[handover: \($0.reason.rawValue)]") }
            case ApprovalRequested.eventType: (try? event.decode(ApprovalRequested.self)).map { ("assistant", "[approval requested for \($0.tool)]") }
            default: nil
            }
        }
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
