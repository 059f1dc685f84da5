import Foundation
import HTTPClient
#if canImport(Glibc)
import Glibc
#endif

/// A server-sent-events client over a plain socket, as a browser's EventSource would read a
/// stream: a GET that never ends, chunked, events parsed as they arrive. (Our libcurl client
/// returns whole responses only.)
final class SSEClient: @unchecked Sendable {
    private let socket: Int32
    private let lock = NSLock()
    private var received: [ServerSentEvent] = []
    private var raw = ""
    private var closed = false
    private var thread: Thread?

    /// `url` is `http://127.0.0.1:<port>`; `path` the stream's path and query.
    /// `token`: sent as a bearer token (nil: none).
    init(url: String, path: String, lastEventID: String? = nil, token: String? = nil) throws {
        guard let port = URL(string: url)?.port else { throw SSEError("no port in \(url)") }
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(socket)
            throw SSEError("cannot connect to \(url)")
        }
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n"
        if let lastEventID { request += "Last-Event-ID: \(lastEventID)\r\n" }
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        request += "\r\n"
        _ = request.withCString { send(socket, $0, strlen($0), 0) }
        let thread = Thread { [weak self] in self?.read() }
        self.thread = thread
        thread.start()
    }

    private func read() {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var bytes: [UInt8] = []
        var headersDone = false
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { break }
            bytes += buffer[0..<count]
            if !headersDone {
                guard let end = Self.find([13, 10, 13, 10], in: bytes) else { continue }
                lock.withLock { raw = String(decoding: bytes[..<end], as: UTF8.self) }
                bytes.removeSubrange(..<(end + 4))
                headersDone = true
            }
            // Chunked: <hex size>\r\n<data>\r\n …; take every complete chunk.
            var text = ""
            while let lineEnd = Self.find([13, 10], in: bytes), let size = Int(String(decoding: bytes[..<lineEnd], as: UTF8.self), radix: 16),
                  bytes.count >= lineEnd + 2 + size + 2 {
                text += String(decoding: bytes[(lineEnd + 2)..<(lineEnd + 2 + size)], as: UTF8.self)
                bytes.removeSubrange(..<(lineEnd + 2 + size + 2))
                if size == 0 { break }
            }
            if !text.isEmpty { append(text) }
        }
        lock.withLock { closed = true }
    }

    private var pending = ""
    private func append(_ text: String) {
        lock.withLock {
            pending += text
            while let range = pending.range(of: "\n\n") {
                let block = String(pending[..<range.upperBound])
                pending.removeSubrange(..<range.upperBound)
                received += ServerSentEvents.parse(Array(block.utf8))
            }
        }
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        for index in 0...(bytes.count - needle.count) where Array(bytes[index..<(index + needle.count)]) == needle { return index }
        return nil
    }

    var events: [ServerSentEvent] { lock.withLock { received } }
    var responseHead: String { lock.withLock { raw } }
    var isClosed: Bool { lock.withLock { closed } }

    /// The events once `done` holds for them; an error after `timeout`.
    func wait(timeout: Duration = .seconds(20), until done: ([ServerSentEvent]) -> Bool) async throws -> [ServerSentEvent] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let events = self.events
            if done(events) { return events }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw SSEError("stream timed out; got \(events.map(\.data))")
    }

    func close() {
        shutdown(socket, Int32(SHUT_RDWR))
        Glibc.close(socket)
    }

    struct SSEError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
