import Foundation
import Testing

/// `switchboard tools` as an operator runs it: no platform needed, only a pack.
@Suite struct ToolsCommandTests {
    static let binary = (ProcessInfo.processInfo.environment["SWITCHBOARD_BIN_DIR"] ?? Platform.repoRoot.appendingPathComponent(".build/debug").path) + "/switchboard"

    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self))
    }

    /// The retail pack with its order tool bound to HTTP, in a temporary file.
    func httpPack() throws -> String {
        let retail = try String(contentsOf: Platform.repoRoot.appendingPathComponent("deploy/packs/retail.yaml"), encoding: .utf8)
        let bound = retail.replacingOccurrences(of: "    binding: native\n", with: """
                binding: http
                retries: { attempts: 3 }
                http:
                  method: GET
                  url: https://shop.example/api/orders/{order_id}
                  auth: { secret_env: SHOP_API_TOKEN }

            """)
        #expect(bound != retail)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tools-\(UUID().uuidString).yaml").path
        try bound.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func listShowsEveryToolWithItsBindingAndOperations() throws {
        let pack = try httpPack()
        defer { try? FileManager.default.removeItem(atPath: pack) }
        let (status, out) = try run(["tools", "list", "--pack", pack])
        #expect(status == 0)
        #expect(out.contains("get_order_status\ttier 0\thttp\ttimeout 2000 ms, attempts 3"))
    }

    @Test func aDryRunValidatesAndShowsTheRequestWithoutTheSecret() throws {
        let pack = try httpPack()
        defer { try? FileManager.default.removeItem(atPath: pack) }
        let (status, out) = try run(["tools", "call", "get_order_status", "--pack", pack, "--args", #"{"order_id":"ABC123"}"#, "--dry-run"])
        #expect(status == 0)
        #expect(out.contains("would send GET https://shop.example/api/orders/ABC123"))
        #expect(out.contains("Authorization: Bearer $SHOP_API_TOKEN"))
        let invalid = try run(["tools", "call", "get_order_status", "--pack", pack, "--args", #"{"order_id":"nope"}"#, "--dry-run"])
        #expect(invalid.status == 1)
        #expect(invalid.stdout.contains("invalid: /order_id"))
        let live = try run(["tools", "call", "get_order_status", "--pack", pack, "--args", "{}"])
        #expect(live.status != 0, "only dry runs: tools act through the executor")
    }
}
