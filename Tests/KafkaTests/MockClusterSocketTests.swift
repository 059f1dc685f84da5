import Foundation
import Kafka
import Testing

/// The dev broker's connections must not use Nagle's algorithm: the mock writes each response
/// with its own send, and a response queued behind an unacknowledged one would wait for the
/// client's delayed ACK (about 40 ms per hop; docs/BENCHMARKS.md).
@Suite("Mock cluster sockets", .timeLimit(.minutes(1)))
struct MockClusterSocketTests {
    @Test("connections the mock broker accepts have TCP_NODELAY set")
    func acceptedConnectionsDisableNagle() async throws {
        let broker = try Broker("nodelay", topics: ["orders": 1])
        let port = try #require(broker.cluster.bootstrapServers.split(separator: ":").last.flatMap { UInt16($0) })
        let producer = try KafkaProducer(config: broker.producerConfig, logger: broker.logger)
        _ = try await producer.send(topic: "orders", key: nil, value: bytes("hello"))

        // This process is the broker too: its accepted sockets are the ones whose local port is
        // the broker's and that are not listening.
        let accepted = serverSideSockets(localPort: port)
        #expect(!accepted.isEmpty)
        for fd in accepted {
            var on: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            #expect(getsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, &length) == 0)
            #expect(on == 1, "accepted socket \(fd) has Nagle's algorithm on")
        }
        await producer.close()
    }

    private func serverSideSockets(localPort: UInt16) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.compactMap(Int32.init).filter { fd in
            var listening: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0, listening == 0 else { return false }
            var address = sockaddr_in()
            var addressLength = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &addressLength) }
            }
            return named == 0 && address.sin_family == sa_family_t(AF_INET) && UInt16(bigEndian: address.sin_port) == localPort
        }
    }
}
