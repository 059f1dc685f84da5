import Auth
import Testing

@Suite("Scopes and principals")
struct ScopeTests {
    @Test("raw values are the wire strings")
    func rawValues() {
        #expect(Scope.allCases.map(\.rawValue) == ["chat:send", "conversations:read", "hil:agent", "hil:admin", "analytics:read", "admin"])
    }

    @Test("parsing keeps known scopes and ignores unknown ones and extra spaces")
    func parsing() {
        #expect(Scope.parse("chat:send  conversations:read bogus:scope admin") == [.chatSend, .conversationsRead, .admin])
        #expect(Scope.parse("") == [])
        #expect(Scope.parse("CHAT:SEND chat:sendx") == [])
    }

    @Test("rendering is sorted and parses back")
    func rendering() {
        let scopes: Set<Scope> = [.hilAgent, .chatSend, .analyticsRead]
        #expect(Scope.render(scopes) == "analytics:read chat:send hil:agent")
        #expect(Scope.parse(Scope.render(scopes)) == scopes)
    }

    @Test("admin implies every other scope")
    func adminImpliesAll() {
        let admin: Set<Scope> = [.admin]
        for scope in Scope.allCases {
            #expect(admin.allows(scope), "admin should allow \(scope.rawValue)")
        }
    }

    @Test("no other scope implies another")
    func noOtherImplication() {
        for held in Scope.allCases where held != .admin {
            for wanted in Scope.allCases where wanted != held {
                #expect(!Set([held]).allows(wanted), "\(held.rawValue) should not allow \(wanted.rawValue)")
            }
            #expect(Set([held]).allows(held))
        }
    }

    @Test("a principal allows by its scopes")
    func principalAllows() {
        let agent = Principal(tenantID: "t", subject: "agent-7", kind: .agent, scopes: [.hilAgent])
        #expect(agent.allows(.hilAgent))
        #expect(!agent.allows(.hilAdmin))
        let admin = Principal(tenantID: "t", subject: "root", kind: .user, scopes: [.admin])
        #expect(admin.allows(.analyticsRead))
    }
}
