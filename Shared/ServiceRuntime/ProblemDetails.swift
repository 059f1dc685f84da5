import Foundation
import HTTPTypes
import Hummingbird
import JSON
import NIOCore

/// RFC 9457 problem details: every HTTP error Switchboard returns has a stable `type` URI, a
/// human `title`, and where relevant the input field that was wrong, so a client can tell its
/// own mistake (4xx) from ours (5xx) without parsing prose.
public struct ProblemDetails: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    /// Stable machine-readable problem kind, e.g. `invalid-json`; rendered as a `type` URI.
    public var kind: String
    public var title: String
    public var detail: String?
    public var field: String?
    public var headers: HTTPFields
    /// Extension members (RFC 9457 §3.2), e.g. what a client may do instead.
    public var extensions: [String: JSONValue] = [:]

    public init(_ status: HTTPResponse.Status, kind: String, title: String, detail: String? = nil, field: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.field = field
        self.headers = headers
    }

    public static let typeBase = "https://switchboard.dev/problems/"

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var object: [String: JSONValue] = [
            "type": .string(Self.typeBase + kind),
            "title": .string(title),
            "status": .number(Double(status.code)),
        ]
        if let detail { object["detail"] = .string(detail) }
        if let field { object["field"] = .string(field) }
        for (name, value) in extensions where object[name] == nil { object[name] = value }
        let data = JSONValue.object(object).serialized()
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error that escapes a handler into problem+json: Hummingbird's own HTTPErrors
/// (404 for unknown routes, 413 from a body limit), and anything else as an opaque 500 whose
/// details stay in the log, never in the response.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as ProblemDetails {
            throw problem
        } catch let error as HTTPError {
            throw ProblemDetails(error.status, kind: Self.kind(for: error.status), title: error.body ?? error.status.reasonPhrase, headers: error.headers)
        } catch let error as any HTTPResponseError {
            throw ProblemDetails(error.status, kind: Self.kind(for: error.status), title: error.status.reasonPhrase)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)", "http.path": "\(request.uri.path)"])
            throw ProblemDetails(.internalServerError, kind: "internal", title: "Internal server error")
        }
    }

    static func kind(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 404: "not-found"
        case 405: "method-not-allowed"
        case 413: "body-too-large"
        case 400: "bad-request"
        case 503: "unavailable"
        default: status.code >= 500 ? "internal" : "bad-request"
        }
    }
}
