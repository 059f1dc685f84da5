import DomainPack
import Events
import Foundation
import JSON
import PlannerApp
import Testing

let telecomPack = try! DomainPack.load(path: repoRoot.appendingPathComponent("deploy/packs/telecom.yaml").path)

enum PackName: String, Sendable {
    case retail, telecom
    var pack: DomainPack { self == .retail ? retailPack : telecomPack }
}

/// A value the customer gave (the only provenance the rules brain produces).
func said(_ value: String) -> SlotValue { SlotValue(value: value, source: .customer) }

/// One message to the rules brain: (pack, state before, text) → what it must decide.
struct BrainRow: Sendable, CustomTestStringConvertible {
    enum Expect: Sendable {
        case plan(tool: String, args: JSONValue)
        /// `asks` is a fragment of the pack's question for `slot`.
        case clarify(slot: String, asks: String, attempt: Int)
        case respond(contains: String)
        case handover(reason: HandoverReason, skills: [String])
    }
    var pack: PackName
    var prior: ConversationState
    var text: String
    var intent: String
    var expect: Expect
    /// Every slot known after the message, with provenance.
    var slots: [String: SlotValue]
    var pending: String?
    var testDescription: String { "\(pack.rawValue): \(text)" }

    init(_ pack: PackName, _ text: String, intent: String, _ expect: Expect, slots: [String: SlotValue] = [:], pending: String? = nil) {
        self.init(pack, ConversationState(), text, intent: intent, expect, slots: slots, pending: pending)
    }

    init(_ pack: PackName, _ prior: ConversationState, _ text: String, intent: String, _ expect: Expect, slots: [String: SlotValue] = [:], pending: String? = nil) {
        self.pack = pack
        self.prior = prior
        self.text = text
        self.intent = intent
        self.expect = expect
        self.slots = slots
        self.pending = pending
    }
}

/// States the rows start from.
enum Prior {
    static func pending(_ intent: String, asked slot: String, times: Int = 1, slots: [String: SlotValue] = [:]) -> ConversationState {
        ConversationState(pendingIntent: intent, slots: slots, clarifications: [slot: times])
    }
    static func known(_ slots: [String: SlotValue]) -> ConversationState { ConversationState(slots: slots) }
}

let ada = "+447700900123"

let brainRows: [BrainRow] = [
    // Greeting, human, unknown.
    BrainRow(.telecom, "Hello!", intent: "greeting", .respond(contains: "network problems")),
    BrainRow(.telecom, "hiya", intent: "greeting", .respond(contains: "PUK")),
    BrainRow(.telecom, "Can I talk to a real person please", intent: "human_agent", .handover(reason: .customerRequest, skills: ["general"])),
    BrainRow(.retail, "Quiero hablar con una persona, por favor", intent: "human_agent", .handover(reason: .customerRequest, skills: ["general"])),
    BrainRow(.retail, "Je voudrais parler à un conseiller", intent: "human_agent", .handover(reason: .customerRequest, skills: ["general"])),
    BrainRow(.retail, "Kann ich bitte mit einem Mitarbeiter sprechen?", intent: "human_agent", .handover(reason: .customerRequest, skills: ["general"])),
    BrainRow(.retail, "mujhe kisi insaan se baat karni hai", intent: "human_agent", .handover(reason: .customerRequest, skills: ["general"])),
    BrainRow(.retail, "मुझे किसी इंसान से बात करनी है", intent: "human_agent", .handover(reason: .customerRequest, skills: ["general"])),
    BrainRow(.retail, "I want an agent", intent: "human_agent", .handover(reason: .customerRequest, skills: ["general"])),
    BrainRow(.telecom, "What's the weather like tomorrow?", intent: "unknown", .handover(reason: .unknownIntent, skills: ["general"])),

    // Network problems by region: cities from the closed list, postcodes reduced to districts.
    BrainRow(.telecom, "I've got no signal in Manchester", intent: "network_issue",
             .plan(tool: "check_network_status", args: ["region": "MANCHESTER"]), slots: ["region": said("MANCHESTER")]),
    BrainRow(.telecom, "mobile data not working at SW1A 1AA", intent: "network_issue",
             .plan(tool: "check_network_status", args: ["region": "SW1A"]), slots: ["region": said("SW1A")]),
    BrainRow(.telecom, "Network is down, postcode M1", intent: "network_issue",
             .plan(tool: "check_network_status", args: ["region": "M1"]), slots: ["region": said("M1")]),
    BrainRow(.telecom, "calls keep dropping in m11ae", intent: "network_issue",
             .plan(tool: "check_network_status", args: ["region": "M1"]), slots: ["region": said("M1")]),
    BrainRow(.telecom, "Is there an outage?", intent: "network_issue",
             .clarify(slot: "region", asks: "postcode", attempt: 1), pending: "network_issue"),
    BrainRow(.telecom, "I lost signal an hour ago", intent: "network_issue",
             .clarify(slot: "region", asks: "town or city", attempt: 1), pending: "network_issue"),
    BrainRow(.telecom, Prior.pending("network_issue", asked: "region"), "I'm in Glasgow", intent: "network_issue",
             .plan(tool: "check_network_status", args: ["region": "GLASGOW"]), slots: ["region": said("GLASGOW")]),
    BrainRow(.telecom, Prior.pending("network_issue", asked: "region"), "eh1 2ng", intent: "network_issue",
             .plan(tool: "check_network_status", args: ["region": "EH1"]), slots: ["region": said("EH1")]),
    // A known number does not stand in for a region the customer did not give.
    BrainRow(.telecom, Prior.known(["phone_number": said(ada)]), "no signal in Leeds", intent: "network_issue",
             .plan(tool: "check_network_status", args: ["region": "LEEDS"]), slots: ["phone_number": said(ada), "region": said("LEEDS")]),

    // Network problems named with a number: checked against the number's home region.
    BrainRow(.telecom, "No signal on +44 7700 900123", intent: "network_issue_by_number",
             .plan(tool: "check_network_status", args: ["phone_number": .string(ada)]), slots: ["phone_number": said(ada)]),
    BrainRow(.telecom, "my 4g is down, number 07700 900456", intent: "network_issue_by_number",
             .plan(tool: "check_network_status", args: ["phone_number": "+447700900456"]), slots: ["phone_number": said("+447700900456")]),

    // Top-ups: two slots, asked one at a time, in the pack's order.
    BrainRow(.telecom, "Top up £20 on 07700900123", intent: "recharge",
             .plan(tool: "recharge", args: ["phone_number": .string(ada), "amount": "20.00"]), slots: ["phone_number": said(ada), "amount": said("20.00")]),
    BrainRow(.telecom, "I want to recharge +44 (0)7700 900123 with 15.50", intent: "recharge",
             .plan(tool: "recharge", args: ["phone_number": .string(ada), "amount": "15.50"]), slots: ["phone_number": said(ada), "amount": said("15.50")]),
    BrainRow(.telecom, "Add credit: 10 pounds to 07700900456", intent: "recharge",
             .plan(tool: "recharge", args: ["phone_number": "+447700900456", "amount": "10.00"]), slots: ["phone_number": said("+447700900456"), "amount": said("10.00")]),
    BrainRow(.telecom, "top up please", intent: "recharge",
             .clarify(slot: "phone_number", asks: "Which mobile number", attempt: 1), pending: "recharge"),
    BrainRow(.telecom, "top up £10", intent: "recharge",
             .clarify(slot: "phone_number", asks: "top up", attempt: 1), slots: ["amount": said("10.00")], pending: "recharge"),
    BrainRow(.telecom, Prior.pending("recharge", asked: "phone_number"), "0044 7700 900123", intent: "recharge",
             .clarify(slot: "amount", asks: "£5 to £100", attempt: 1), slots: ["phone_number": said(ada)], pending: "recharge"),
    BrainRow(.telecom, Prior.pending("recharge", asked: "amount", slots: ["phone_number": said(ada)]), "10", intent: "recharge",
             .plan(tool: "recharge", args: ["phone_number": .string(ada), "amount": "10.00"]), slots: ["phone_number": said(ada), "amount": said("10.00")]),
    BrainRow(.telecom, Prior.pending("recharge", asked: "amount", slots: ["phone_number": said(ada)]), "20 quid", intent: "recharge",
             .plan(tool: "recharge", args: ["phone_number": .string(ada), "amount": "20.00"]), slots: ["phone_number": said(ada), "amount": said("20.00")]),
    // A filled slot is never asked again, also by a later intent.
    BrainRow(.telecom, Prior.known(["phone_number": said(ada)]), "top up £5", intent: "recharge",
             .plan(tool: "recharge", args: ["phone_number": .string(ada), "amount": "5.00"]), slots: ["phone_number": said(ada), "amount": said("5.00")]),
    BrainRow(.telecom, Prior.known(["phone_number": said(ada)]), "top up please", intent: "recharge",
             .clarify(slot: "amount", asks: "How much", attempt: 1), slots: ["phone_number": said(ada)], pending: "recharge"),
    // What the customer says now outranks what was known.
    BrainRow(.telecom, Prior.known(["phone_number": said(ada)]), "top up 07700900456 with £15", intent: "recharge",
             .plan(tool: "recharge", args: ["phone_number": "+447700900456", "amount": "15.00"]), slots: ["phone_number": said("+447700900456"), "amount": said("15.00")]),
    // The cap: after two questions about one slot, a human takes over.
    BrainRow(.telecom, Prior.pending("recharge", asked: "phone_number", times: 2), "top up please", intent: "recharge",
             .handover(reason: .clarificationLimit, skills: ["billing"])),
    BrainRow(.telecom, Prior.pending("recharge", asked: "amount", times: 2, slots: ["phone_number": said(ada)]), "top up some credit please", intent: "recharge",
             .handover(reason: .clarificationLimit, skills: ["billing"]), slots: ["phone_number": said(ada)]),
    // Mid-flow: a human request wins even over a message that fills the pending slot.
    BrainRow(.telecom, Prior.pending("recharge", asked: "phone_number"), "07700900123, actually I'd rather speak to a person", intent: "human_agent",
             .handover(reason: .customerRequest, skills: ["general"])),
    BrainRow(.telecom, Prior.pending("recharge", asked: "phone_number"), "what's the weather like?", intent: "unknown",
             .handover(reason: .unknownIntent, skills: ["general"])),

    // Balance.
    BrainRow(.telecom, "What's my balance? 07700900123", intent: "balance",
             .plan(tool: "get_balance", args: ["phone_number": .string(ada)]), slots: ["phone_number": said(ada)]),
    BrainRow(.telecom, "Check my credit for +1 415 555 0100", intent: "balance",
             .plan(tool: "get_balance", args: ["phone_number": "+14155550100"]), slots: ["phone_number": said("+14155550100")]),
    BrainRow(.telecom, "how much data do I have left", intent: "balance",
             .clarify(slot: "phone_number", asks: "mobile number", attempt: 1), pending: "balance"),
    BrainRow(.telecom, Prior.pending("balance", asked: "phone_number"), "it's 07700 900 123", intent: "balance",
             .plan(tool: "get_balance", args: ["phone_number": .string(ada)]), slots: ["phone_number": said(ada)]),
    BrainRow(.telecom, Prior.pending("balance", asked: "phone_number"), "sorry, I don't know it", intent: "unknown",
             .handover(reason: .unknownIntent, skills: ["general"])),

    // SIM: PUK lookup and activation run tools; a replacement goes to a human (identity check).
    BrainRow(.telecom, "My SIM is locked and asking for a PUK, number 07700900789", intent: "sim_puk",
             .plan(tool: "get_puk", args: ["phone_number": "+447700900789"]), slots: ["phone_number": said("+447700900789")]),
    BrainRow(.telecom, "I need my PUK code", intent: "sim_puk",
             .clarify(slot: "phone_number", asks: "PUK", attempt: 1), pending: "sim_puk"),
    BrainRow(.telecom, "Please activate my new SIM for 07700900456", intent: "sim_activation",
             .plan(tool: "activate_sim", args: ["phone_number": "+447700900456"]), slots: ["phone_number": said("+447700900456")]),
    BrainRow(.telecom, "my new sim isn't working", intent: "sim_activation",
             .clarify(slot: "phone_number", asks: "activate", attempt: 1), pending: "sim_activation"),
    BrainRow(.telecom, "My phone was stolen", intent: "sim_replacement", .handover(reason: .customerRequest, skills: ["sim"])),
    BrainRow(.telecom, "I need a new SIM", intent: "sim_replacement", .handover(reason: .customerRequest, skills: ["sim"])),
    BrainRow(.telecom, Prior.pending("sim_puk", asked: "phone_number"), "I've lost my phone", intent: "sim_replacement",
             .handover(reason: .customerRequest, skills: ["sim"])),

    // Retail, through the same table.
    BrainRow(.retail, "Where is my order ABC123?", intent: "order_status",
             .plan(tool: "get_order_status", args: ["order_id": "ABC123"]), slots: ["order_id": said("ABC123")]),
    BrainRow(.retail, "where's my package abc123", intent: "order_status",
             .plan(tool: "get_order_status", args: ["order_id": "ABC123"]), slots: ["order_id": said("ABC123")]),
    BrainRow(.retail, "Has my order shipped yet?", intent: "order_status",
             .clarify(slot: "order_id", asks: "order number", attempt: 1), pending: "order_status"),
    BrainRow(.retail, Prior.pending("order_status", asked: "order_id"), "It's abc123", intent: "order_status",
             .plan(tool: "get_order_status", args: ["order_id": "ABC123"]), slots: ["order_id": said("ABC123")]),
    BrainRow(.retail, Prior.pending("order_status", asked: "order_id"), "where is my order", intent: "order_status",
             .clarify(slot: "order_id", asks: "order number", attempt: 2), pending: "order_status"),
    BrainRow(.retail, Prior.pending("order_status", asked: "order_id", times: 2), "where is my order", intent: "order_status",
             .handover(reason: .clarificationLimit, skills: ["orders"])),
    BrainRow(.retail, Prior.known(["order_id": said("ABC123")]), "Where is my order?", intent: "order_status",
             .plan(tool: "get_order_status", args: ["order_id": "ABC123"]), slots: ["order_id": said("ABC123")]),
    BrainRow(.retail, Prior.pending("order_status", asked: "order_id"), "ABC123 — actually let me talk to a person", intent: "human_agent",
             .handover(reason: .customerRequest, skills: ["general"])),
    BrainRow(.retail, "Hello!", intent: "greeting", .respond(contains: "orders")),
    // Writes: the plan reads the order first (the rules need it), then acts.
    BrainRow(.retail, "I want a refund of $20 for order DEF456", intent: "refund",
             .plan(tool: "create_refund", args: ["order_id": "DEF456", "amount": 20, "reason": "customer request"]),
             slots: ["order_id": said("DEF456"), "amount": said("20")]),
    BrainRow(.retail, "Please refund USD 80.50 on def456", intent: "refund",
             .plan(tool: "create_refund", args: ["order_id": "DEF456", "amount": 80.5, "reason": "customer request"]),
             slots: ["order_id": said("DEF456"), "amount": said("80.50")]),
    // Questions about refunds, cancelling and damage are for the knowledge base, not actions.
    BrainRow(.retail, "How long does a refund take?", intent: "unknown", .handover(reason: .unknownIntent, skills: ["general"])),
    BrainRow(.retail, "What happens if an item is damaged in transit?", intent: "unknown", .handover(reason: .unknownIntent, skills: ["general"])),
    BrainRow(.retail, "I'd like my money back for DEF456", intent: "refund", .clarify(slot: "amount", asks: "How much", attempt: 1),
             slots: ["order_id": said("DEF456")], pending: "refund"),
    BrainRow(.retail, "Please cancel order def456", intent: "cancel_order", .plan(tool: "cancel_order", args: ["order_id": "DEF456"]),
             slots: ["order_id": said("DEF456")]),
    BrainRow(.retail, "Change the delivery address of DEF456 to 1 New Road, Leeds LS1 1AA", intent: "change_address",
             .plan(tool: "update_shipping_address", args: ["order_id": "DEF456", "address": "1 New Road, Leeds LS1 1AA"]),
             slots: ["order_id": said("DEF456"), "address": said("1 New Road, Leeds LS1 1AA")]),
    BrainRow(.retail, "Can you email me the invoice for ABC123?", intent: "email_invoice",
             .plan(tool: "send_email", args: ["order_id": "ABC123", "subject": "Your invoice", "body": "As you asked, here is the invoice for your order. You can also download it from your account at any time."]),
             slots: ["order_id": said("ABC123")]),
    BrainRow(.retail, "I need the invoice for order ABC123", intent: "invoice", .plan(tool: "get_invoice", args: ["order_id": "ABC123"]),
             slots: ["order_id": said("ABC123")]),
    BrainRow(.retail, "My mug from order ABC123 arrived broken", intent: "complaint",
             .plan(tool: "create_ticket", args: ["order_id": "ABC123", "subject": "Damaged or faulty item", "body": "The customer reported a damaged or faulty item in this order.", "priority": "high"]),
             slots: ["order_id": said("ABC123")]),
    BrainRow(.retail, "Can you write me a poem about cheese?", intent: "unknown", .handover(reason: .unknownIntent, skills: ["general"])),
]

/// A tool result and what the reply built from it must (and must not) say.
struct AnswerRow: Sendable, CustomTestStringConvertible {
    var pack: PackName
    var intent: String
    var slots: [String: SlotValue]
    var result: JSONValue
    var says: [String]
    var never: [String] = []
    var testDescription: String { "\(pack.rawValue) \(intent): \(result.serializedString())" }
}

let manchesterFixing: JSONValue = ["found": true, "region": "M1", "region_name": "Manchester", "outage": true, "outage_status": "fixing", "services": "mobile data", "estimated_fix": "25 Nov 2026, 18:00 UTC"]

let answerRows: [AnswerRow] = [
    AnswerRow(pack: .telecom, intent: "network_issue", slots: ["region": said("M1")], result: manchesterFixing,
              says: ["mobile data", "Manchester", "fixing it", "25 Nov 2026, 18:00 UTC"]),
    AnswerRow(pack: .telecom, intent: "network_issue", slots: ["region": said("MANCHESTER")],
              result: ["found": true, "region": "MANCHESTER", "region_name": "Manchester", "outage": true, "outage_status": "fixing", "services": "calls", "estimated_fix": .null],
              says: ["calls", "fixing it."], never: ["expect service back"]),
    AnswerRow(pack: .telecom, intent: "network_issue", slots: ["region": said("GLASGOW")],
              result: ["found": true, "region": "GLASGOW", "region_name": "Glasgow", "outage": true, "outage_status": "investigating", "services": "calls and mobile data", "estimated_fix": .null],
              says: ["calls and mobile data", "Glasgow", "investigating"]),
    AnswerRow(pack: .telecom, intent: "network_issue", slots: ["region": said("SW1A")],
              result: ["found": true, "region": "SW1A", "region_name": "London", "outage": false],
              says: ["no known network problems", "London", "flight mode"]),
    AnswerRow(pack: .telecom, intent: "network_issue", slots: ["region": said("ZZ9")], result: ["found": false, "region": "ZZ9"],
              says: ["couldn't find", "ZZ9", "postcode"]),
    AnswerRow(pack: .telecom, intent: "network_issue_by_number", slots: ["phone_number": said("+447700900456")],
              result: ["found": true, "phone_number": "+447700900456", "region_name": "Manchester", "outage": true, "outage_status": "fixing", "services": "mobile data", "estimated_fix": "25 Nov 2026, 18:00 UTC"],
              says: ["+447700900456", "Manchester", "25 Nov 2026, 18:00 UTC"]),
    AnswerRow(pack: .telecom, intent: "network_issue_by_number", slots: ["phone_number": said("+447700900789")],
              result: ["found": true, "phone_number": "+447700900789", "region_name": "Glasgow", "outage": true, "outage_status": "investigating", "services": "calls", "estimated_fix": .null],
              says: ["+447700900789", "Glasgow", "investigating"]),
    AnswerRow(pack: .telecom, intent: "network_issue_by_number", slots: ["phone_number": said(ada)],
              result: ["found": true, "phone_number": .string(ada), "region_name": "London", "outage": false],
              says: [ada, "no known network problems", "London"]),
    AnswerRow(pack: .telecom, intent: "network_issue_by_number", slots: ["phone_number": said("+447700900999")],
              result: ["found": false, "phone_number": "+447700900999"], says: ["couldn't find", "+447700900999"]),

    AnswerRow(pack: .telecom, intent: "balance", slots: ["phone_number": said(ada)],
              result: ["phone_number": .string(ada), "found": true, "plan": "pay_as_you_go", "status": "active", "balance": "£12.50", "data_remaining": "3 GB", "renews_on": "2026-12-01"],
              says: ["£12.50", "3 GB", "2026-12-01", ada]),
    AnswerRow(pack: .telecom, intent: "balance", slots: ["phone_number": said("+447700900789")],
              result: ["phone_number": "+447700900789", "found": true, "plan": "pay_monthly", "status": "active", "balance": "£0.00", "data_remaining": "20 GB", "renews_on": "2026-12-10"],
              says: ["monthly plan", "20 GB"], never: ["£0.00"]),
    AnswerRow(pack: .telecom, intent: "balance", slots: ["phone_number": said("+447700900321")],
              result: ["phone_number": "+447700900321", "found": true, "plan": "pay_as_you_go", "status": "suspended", "balance": "£0.75", "data_remaining": "0 MB", "renews_on": "2026-12-02"],
              says: ["suspended"], never: ["£0.75"]),
    AnswerRow(pack: .telecom, intent: "balance", slots: ["phone_number": said("+447700900999")],
              result: ["phone_number": "+447700900999", "found": false], says: ["couldn't find", "+447700900999"]),

    AnswerRow(pack: .telecom, intent: "sim_puk", slots: ["phone_number": said("+447700900789")],
              result: ["phone_number": "+447700900789", "found": true, "puk": "24681357"], says: ["24681357", "+447700900789", "new PIN"]),
    AnswerRow(pack: .telecom, intent: "sim_puk", slots: ["phone_number": said("+447700900999")],
              result: ["phone_number": "+447700900999", "found": false], says: ["couldn't find"], never: ["PUK code for"]),

    AnswerRow(pack: .telecom, intent: "sim_activation", slots: ["phone_number": said("+447700900456")],
              result: ["phone_number": "+447700900456", "found": true, "activated": true, "sim_status": "active"], says: ["now active"]),
    AnswerRow(pack: .telecom, intent: "sim_activation", slots: ["phone_number": said(ada)],
              result: ["phone_number": .string(ada), "found": true, "activated": false, "sim_status": "active"], says: ["already active"]),
    AnswerRow(pack: .telecom, intent: "sim_activation", slots: ["phone_number": said("+447700900789")],
              result: ["phone_number": "+447700900789", "found": true, "activated": false, "sim_status": "puk_locked"], says: ["PUK"]),
    AnswerRow(pack: .telecom, intent: "sim_activation", slots: ["phone_number": said("+447700900999")],
              result: ["phone_number": "+447700900999", "found": false], says: ["couldn't find"]),

    AnswerRow(pack: .telecom, intent: "recharge", slots: ["phone_number": said(ada), "amount": said("20.00")],
              result: ["phone_number": .string(ada), "found": true, "applied": true, "amount": "£20.00", "balance": "£32.50", "recharge_id": "4d6f8a4e-9a53-4a4f-9f4e-1d2c3b4a5f60"],
              says: ["£20.00", "£32.50", ada], never: [": 20.00"]),
    AnswerRow(pack: .telecom, intent: "recharge", slots: ["phone_number": said(ada), "amount": said("500.00")],
              result: ["phone_number": .string(ada), "found": true, "applied": false, "reason": "amount_out_of_range", "amount": "£500.00", "balance": "£12.50"],
              says: ["between £5 and £100", "nothing was charged"]),
    AnswerRow(pack: .telecom, intent: "recharge", slots: ["phone_number": said("+447700900789"), "amount": said("10.00")],
              result: ["phone_number": "+447700900789", "found": true, "applied": false, "reason": "pay_monthly", "amount": "£10.00", "balance": "£0.00"],
              says: ["monthly plan", "nothing was charged"]),
    AnswerRow(pack: .telecom, intent: "recharge", slots: ["phone_number": said("+447700900321"), "amount": said("10.00")],
              result: ["phone_number": "+447700900321", "found": true, "applied": false, "reason": "suspended", "amount": "£10.00", "balance": "£0.75"],
              says: ["suspended", "nothing was charged"]),
    AnswerRow(pack: .telecom, intent: "recharge", slots: ["phone_number": said("+447700900999"), "amount": said("10.00")],
              result: ["phone_number": "+447700900999", "found": false], says: ["couldn't find", "nothing was charged"]),

    AnswerRow(pack: .retail, intent: "order_status", slots: ["order_id": said("ABC123")],
              result: ["order_id": "ABC123", "found": true, "status": "shipped", "carrier": "UPS", "tracking_number": "1Z999AA10123456784", "estimated_delivery": "2026-11-25"],
              says: ["UPS", "1Z999AA10123456784", "2026-11-25"]),
    AnswerRow(pack: .retail, intent: "order_status", slots: ["order_id": said("ZZZ999")], result: ["order_id": "ZZZ999", "found": false], says: ["couldn't find", "ZZZ999"]),
    AnswerRow(pack: .retail, intent: "refund", slots: ["order_id": said("DEF456"), "amount": said("80")],
              result: ["refund_id": "R-9001", "order_id": "DEF456", "amount": 80, "amount_text": "USD 80.00", "currency": "USD", "refunded_total": 80],
              says: ["refunded USD 80.00", "DEF456", "R-9001"]),
    AnswerRow(pack: .retail, intent: "cancel_order", slots: ["order_id": said("DEF456")],
              result: ["order_id": "DEF456", "status": "cancelled", "previous_status": "processing"], says: ["DEF456 is cancelled"]),
    AnswerRow(pack: .retail, intent: "change_address", slots: ["order_id": said("DEF456")],
              result: ["order_id": "DEF456", "shipping_address": "1 New Road, Leeds LS1 1AA", "previous_address": "221B Baker Street"], says: ["1 New Road, Leeds LS1 1AA"], never: ["221B"]),
    AnswerRow(pack: .retail, intent: "email_invoice", slots: ["order_id": said("ABC123")],
              result: ["email_id": "E-7001", "order_id": "ABC123", "status": "queued", "to": "a***@example.com"], says: ["a***@example.com", "ABC123"]),
    AnswerRow(pack: .retail, intent: "invoice", slots: ["order_id": said("ABC123")],
              result: ["order_id": "ABC123", "found": true, "invoice_id": "INV-5001", "amount": 59.9, "currency": "USD", "status": "paid", "issued_at": "2026-11-18", "pdf_url": "https://shop.example/default/invoices/INV-5001.pdf"],
              says: ["INV-5001", "https://shop.example/default/invoices/INV-5001.pdf"]),
    AnswerRow(pack: .retail, intent: "invoice", slots: ["order_id": said("ZZZ999")], result: ["order_id": "ZZZ999", "found": false], says: ["couldn't find an invoice"]),
    AnswerRow(pack: .retail, intent: "complaint", slots: ["order_id": said("ABC123")],
              result: ["ticket_id": "T-3001", "status": "open", "priority": "high"], says: ["T-3001", "ABC123"]),
    AnswerRow(pack: .retail, intent: "order_status", slots: ["order_id": said("DEF456")],
              result: ["order_id": "DEF456", "found": true, "status": "processing", "carrier": .null], says: ["being prepared"]),
    AnswerRow(pack: .retail, intent: "order_status", slots: ["order_id": said("GHI789")],
              result: ["order_id": "GHI789", "found": true, "status": "delivered", "carrier": "DHL"], says: ["delivered by DHL"]),
    AnswerRow(pack: .retail, intent: "order_status", slots: ["order_id": said("JKL012")],
              result: ["order_id": "JKL012", "found": true, "status": "cancelled"], says: ["cancelled"]),
]

@Suite struct RulesBrainTableTests {
    @Test(arguments: brainRows)
    func decides(_ row: BrainRow) throws {
        let pack = row.pack.pack
        let decision = RulesBrain(pack: pack).decide(text: row.text, state: row.prior)
        #expect(decision.intent == row.intent, "\(decision.explain)")
        #expect(decision.state.slots == row.slots)
        #expect(decision.state.pendingIntent == row.pending)

        switch (row.expect, decision.action) {
        case (.plan(let tool, let args), .plan(let steps)):
            #expect(decision.nextAction == .toolCalls)
            // The step that acts is the last; earlier ones fetch what its rules read.
            #expect(steps.last?.tool == tool)
            #expect(steps.last?.args == args)
            #expect(steps.allSatisfy { pack.intent(named: row.intent)?.allowedTools.contains($0.tool) == true })
            // What the brain proposes passes the verifier's argument check.
            let contract = try #require(pack.tools[tool])
            #expect(contract.inputSchema.validate(args).isValid, "\(args.serializedString())")
            // A completed intent forgets how often its slots were asked for.
            let spec = try #require(pack.intent(named: row.intent))
            #expect(spec.slots.allSatisfy { decision.state.clarifications[$0.name] == nil })
        case (.clarify(let slot, let asks, let attempt), .clarify(let askedSlot, let question, let askedAttempt)):
            #expect(decision.nextAction == .clarify)
            #expect(askedSlot == slot)
            #expect(question.contains(asks), "\(question)")
            #expect(question == pack.intent(named: row.intent)?.slots.first { $0.name == slot }?.question)
            #expect(askedAttempt == attempt)
            #expect(decision.state.clarifications[slot] == attempt)
            #expect(decision.state.slots[slot] == nil, "only missing slots are asked for")
        case (.respond(let fragment), .respond(let text)):
            #expect(decision.nextAction == .respond)
            #expect(text.contains(fragment), "\(text)")
        case (.handover(let reason, let skills), .handover(let actualReason, let text, let actualSkills)):
            #expect(decision.nextAction == .handover)
            #expect(actualReason == reason)
            #expect(actualSkills == skills)
            let expectedText = switch reason {
            case .unknownIntent: pack.replies.unknownIntent.render([:])
            case .clarificationLimit: pack.replies.clarificationLimit.render([:])
            default: pack.intent(named: row.intent)?.reply?.render([:]) ?? ""
            }
            #expect(text == expectedText)
        default:
            Issue.record("expected \(row.expect), got \(decision.action)")
        }
    }

    @Test func tableCoversEveryIntentOfBothPacks() {
        for name in [PackName.retail, .telecom] {
            let covered = Set(brainRows.filter { $0.pack == name }.map(\.intent))
            let intents = Set(name.pack.intents.map(\.name) + [RulesBrain.unknownIntent])
            #expect(intents.subtracting(covered).isEmpty, "\(name): no rows for \(intents.subtracting(covered).sorted())")
        }
        #expect(brainRows.count + answerRows.count >= 40)
    }

    @Test(arguments: answerRows)
    func answers(_ row: AnswerRow) throws {
        let pack = row.pack.pack
        let spec = try #require(pack.intent(named: row.intent))
        let tool = try #require(spec.steps.last?.tool)
        // The result is one the verifier would let through.
        let check = try #require(pack.tools[tool]).outputSchema.validate(row.result)
        #expect(check.isValid, "\(check.errors)")
        let text = try #require(RulesBrain(pack: pack).answer(intent: row.intent, result: row.result, state: ConversationState(slots: row.slots)))
        for fragment in row.says { #expect(text.contains(fragment), "\(text)") }
        for fragment in row.never { #expect(!text.contains(fragment), "\(text)") }
        #expect(!text.contains("{{") && !text.contains("&"), "rendered as plain text: \(text)")
        #expect(text.count <= pack.policy.maxReplyCharacters)
    }

    /// Every `when` case of every tool intent is chosen by some answer row, so no template
    /// ships untested.
    @Test func answerRowsCoverEveryAnswerCase() throws {
        for name in [PackName.retail, .telecom] {
            for intent in name.pack.intents where intent.action == .toolCalls {
                var chosen = Set<Int>()
                for row in answerRows where row.pack == name && row.intent == intent.name {
                    guard case .object(let fields) = row.result else { continue }
                    if let index = intent.answers.firstIndex(where: { $0.when.allSatisfy { fields[$0.key] == $0.value } }) { chosen.insert(index) }
                }
                let conditional = Set(intent.answers.indices.filter { !intent.answers[$0].when.isEmpty })
                #expect(conditional.subtracting(chosen).isEmpty, "\(name) \(intent.name): answer cases \(conditional.subtracting(chosen).sorted()) untested")
            }
        }
    }

    /// A lone new value after a finished request corrects that request; with no request
    /// before, or a pending question, it does not.
    @Test func aLoneNewValueCorrectsTheLastRequest() throws {
        let brain = RulesBrain(pack: retailPack)
        let first = brain.decide(text: "Where is my order ABC124?", state: ConversationState())
        #expect(first.state.lastIntent == "order_status")
        let corrected = brain.decide(text: "sorry, I meant ABC123", state: first.state)
        guard case .plan(let steps) = corrected.action else { Issue.record("\(corrected.action)"); return }
        #expect(corrected.intent == "order_status" && steps.first?.args == ["order_id": "ABC123"])
        #expect(brain.decide(text: "sorry, I meant ABC123", state: ConversationState()).intent == RulesBrain.unknownIntent)
        let asked = brain.decide(text: "I want a refund", state: ConversationState())
        #expect(brain.decide(text: "never mind, ABC123", state: asked.state).intent == "refund", "a pending question takes the value first")
    }

    @Test func aConversationTopsUpAfterTwoQuestions() throws {
        let brain = RulesBrain(pack: telecomPack)
        let first = brain.decide(text: "I'd like to top up", state: ConversationState())
        let second = brain.decide(text: "+44 7700 900123", state: first.state)
        let third = brain.decide(text: "£25", state: second.state)
        guard case .clarify("phone_number", _, 1) = first.action, case .clarify("amount", _, 1) = second.action,
              case .plan(let steps) = third.action else {
            Issue.record("got \(first.action), \(second.action), \(third.action)")
            return
        }
        #expect(steps.first?.args == ["phone_number": .string(ada), "amount": "25.00"])
        var expected = ConversationState(slots: ["phone_number": said(ada), "amount": said("25.00")])
        expected.lastIntent = "recharge"
        #expect(third.state == expected)
        // A balance check later in the conversation reuses the number without asking.
        let fourth = brain.decide(text: "and what's my balance now?", state: third.state)
        guard case .plan(let balanceSteps) = fourth.action else { Issue.record("got \(fourth.action)"); return }
        #expect(balanceSteps.first?.args == ["phone_number": .string(ada)])
    }
}
