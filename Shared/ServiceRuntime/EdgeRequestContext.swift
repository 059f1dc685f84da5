import Foundation
public import Hummingbird
public import NIOCore

/// The request context of every service's HTTP API: Hummingbird's basic context plus the
/// peer's address, which per-address rate limits need (behind a load balancer the client's
/// address comes from `X-Forwarded-For`, trusted only from the configured proxies).
public struct EdgeRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// A path parameter, percent-decoded (`%3A` is `:`): what clients encoded is what handlers see.
    public func pathParameter(_ name: String = "id") -> String? {
        parameters.get(name).map { $0.removingPercentEncoding ?? $0 }
    }
}
