import Foundation
import Hummingbird
import JSON
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// An OTLP/HTTP receiver for traces in JSON (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`), on
/// 127.0.0.1: what a collector receives from the services, span by span.
final class OTLPCollector: Sendable {
    struct CollectedSpan: Sendable, Hashable {
        var service: String
        var traceID: String
        var spanID: String
        var parentSpanID: String
        var name: String
        /// OTLP span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
        var kind: Int
        var attributes: [String: String]
    }

    let port: Int
    private let store: Store
    private let group: ServiceGroup
    private let runTask: Task<Void, any Error>

    var endpoint: String { "http://127.0.0.1:\(port)" }
    var spans: [CollectedSpan] { store.spans.withLock { $0 } }

    private init(port: Int, store: Store, group: ServiceGroup, runTask: Task<Void, any Error>) {
        self.port = port
        self.store = store
        self.group = group
        self.runTask = runTask
    }

    static func with(_ body: (OTLPCollector) async throws -> Void) async throws {
        let store = Store()
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let logger = Logger(label: "otlp-collector", factory: { _ in SwiftLogNoOpLogHandler() })
        let app = Application(
            responder: CallbackResponder<BasicRequestContext> { request, _ in
                let body = try await request.body.collect(upTo: 16 * 1024 * 1024)
                if let json = try? JSONValue.parse(Array(buffer: body)) { store.add(Self.spans(in: json)) }
                var headers = HTTPFields()
                headers[.contentType] = "application/json"
                return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: "{}")))
            },
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "otlp-collector"),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let runTask = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        let collector = OTLPCollector(port: port, store: store, group: group, runTask: runTask)
        do {
            try await body(collector)
        } catch {
            await group.triggerGracefulShutdown()
            try? await runTask.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await runTask.value
    }

    final class Store: Sendable {
        let spans = Mutex<[CollectedSpan]>([])
        func add(_ new: [CollectedSpan]) { spans.withLock { $0.append(contentsOf: new) } }
    }

    /// The spans of one `ExportTraceServiceRequest` in its JSON form.
    static func spans(in request: JSONValue) -> [CollectedSpan] {
        var spans: [CollectedSpan] = []
        for resource in request["resourceSpans"]?.arrayValue ?? [] {
            let attributes = Self.attributes(resource["resource"]?["attributes"])
            let service = attributes["service.name"] ?? ""
            for scope in resource["scopeSpans"]?.arrayValue ?? [] {
                for span in scope["spans"]?.arrayValue ?? [] {
                    spans.append(CollectedSpan(
                        service: service, traceID: hex(span["traceId"]), spanID: hex(span["spanId"]), parentSpanID: hex(span["parentSpanId"]),
                        name: span["name"]?.stringValue ?? "", kind: span["kind"]?.intValue ?? 0, attributes: Self.attributes(span["attributes"])))
                }
            }
        }
        return spans
    }

    static func attributes(_ list: JSONValue?) -> [String: String] {
        var attributes: [String: String] = [:]
        for attribute in list?.arrayValue ?? [] {
            guard let key = attribute["key"]?.stringValue, let value = attribute["value"] else { continue }
            attributes[key] = value["stringValue"]?.stringValue ?? value["intValue"].map { $0.stringValue ?? "\($0)" } ?? value["boolValue"].map { "\($0)" } ?? "\(value)"
        }
        return attributes
    }

    /// Ids as lowercase hex: OTLP/JSON specifies hex, protobuf's JSON mapping gives base64.
    static func hex(_ value: JSONValue?) -> String {
        guard let text = value?.stringValue, !text.isEmpty else { return "" }
        if (text.count == 32 || text.count == 16), text.allSatisfy(\.isHexDigit) { return text.lowercased() }
        guard let data = Data(base64Encoded: text) else { return text }
        return data.map { String(format: "%02x", $0) }.joined()
    }
}
