internal import CCurl

/// Lets another thread interrupt a worker blocked in `curl_multi_poll`.
///
/// `@unchecked Sendable` is safe: `curl_multi_wakeup` is documented as callable
/// from any thread, and `TransferJob` only calls it between `attach` and
/// `detach`, under its lock, while the owning worker keeps the handle alive.
struct MultiWaker: @unchecked Sendable {
    fileprivate let multi: UnsafeMutableRawPointer

    func wake() {
        _ = curl_multi_wakeup(multi)
    }
}

/// Per-transfer state reached from libcurl's C callbacks through an unretained
/// pointer; lives on, and is only touched by, one worker thread.
private final class TransferContext {
    let job: TransferJob
    let limit: Int
    var body: [UInt8] = []
    var headers = HTTPHeaders()
    var exceededLimit = false
    let started = ContinuousClock.now
    /// When the first byte of the body arrived (a streamed answer's first chunk).
    var firstBodyByte: ContinuousClock.Instant?

    init(job: TransferJob, limit: Int) {
        self.job = job
        self.limit = limit
    }
}

/// One worker thread's libcurl handles. Not thread-safe: created, used and
/// destroyed on its worker thread only.
///
/// A multi handle drives a single easy handle (instead of `curl_easy_perform`)
/// so that cancellation can wake the blocking poll immediately; the
/// XFERINFO callback then aborts the transfer through libcurl's normal path.
final class CurlWorker {
    private let easy: UnsafeMutableRawPointer
    private let multi: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let userAgent: String

    /// Upper bound on one `curl_multi_poll` sleep; libcurl shortens it to its
    /// own timers (timeouts), and `MultiWaker` interrupts it.
    private static let pollTimeoutMilliseconds: Int32 = 1000
    private static let maxRedirects = 5

    init?(userAgent: String) {
        guard ccurl_global_init_once() == CURLE_OK else { return nil }
        guard let easy = curl_easy_init() else { return nil }
        guard let multi = curl_multi_init() else {
            curl_easy_cleanup(easy)
            return nil
        }
        self.easy = easy
        self.multi = multi
        self.userAgent = userAgent
        self.errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        self.errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        // The easy handle is never left attached (see run), so order is free;
        // cleaning the multi handle first closes its cached connections.
        curl_multi_cleanup(multi)
        curl_easy_cleanup(easy)
        errorBuffer.deallocate()
    }

    func perform(_ job: TransferJob) -> Result<HTTPResponse, HTTPClientError> {
        if job.isCancelled { return .failure(.cancelled()) }
        let request = job.request
        // Reset keeps the multi handle's connection/DNS caches but drops every
        // option of the previous request.
        curl_easy_reset(easy)
        errorBuffer[0] = 0
        let context = TransferContext(job: job, limit: request.maxResponseBytes)
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }

        // libcurl keeps the POSTFIELDS pointer, so the body buffer must outlive
        // the whole transfer; a 1-byte dummy gives empty bodies a non-nil pointer
        // (a nil pointer would make libcurl read the body from stdin).
        let bodyBytes = request.body ?? []
        let storage = bodyBytes.isEmpty ? [0] : bodyBytes
        return withExtendedLifetime(context) {
            storage.withUnsafeBufferPointer { buffer -> Result<HTTPResponse, HTTPClientError> in
                do throws(HTTPClientError) {
                    try configure(request, context: context, headerList: &headerList)
                    if request.body != nil || request.method == "POST" {
                        try check(ccurl_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyBytes.count)))
                        try check(ccurl_easy_setopt_pointer(
                            easy, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: buffer.baseAddress)))
                    }
                    let code = try run(job)
                    guard code == CURLE_OK else {
                        return .failure(error(for: code, context: context))
                    }
                    var status = 0
                    try check(ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status))
                    var response = HTTPResponse(status: status, headers: context.headers, body: context.body)
                    response.firstBodyByteAfter = context.firstBodyByte.map { $0 - context.started }
                    return .success(response)
                } catch {
                    return .failure(error)
                }
            }
        }
    }

    private func configure(
        _ request: HTTPRequest,
        context: TransferContext,
        headerList: inout UnsafeMutablePointer<curl_slist>?
    ) throws(HTTPClientError) {
        try check(ccurl_easy_setopt_string(easy, CURLOPT_URL, request.url))
        try check(ccurl_easy_restrict_to_http(easy))
        // No SIGALRM for DNS timeouts: signals in a multi-threaded process are unsafe.
        try check(ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1))
        try check(ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, request.followRedirects ? 1 : 0))
        try check(ccurl_easy_setopt_long(easy, CURLOPT_MAXREDIRS, Self.maxRedirects))
        try check(ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, try milliseconds(request.timeout, "timeout")))
        try check(ccurl_easy_setopt_long(
            easy, CURLOPT_CONNECTTIMEOUT_MS, try milliseconds(request.connectTimeout, "connectTimeout")))
        // Rejects early when Content-Length is known; the write callback
        // enforces the limit for chunked / compressed bodies.
        try check(ccurl_easy_setopt_off(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(request.maxResponseBytes)))
        try check(ccurl_easy_setopt_string(easy, CURLOPT_USERAGENT, userAgent))
        // "" = advertise and transparently decode every encoding libcurl supports.
        try check(ccurl_easy_setopt_string(easy, CURLOPT_ACCEPT_ENCODING, ""))
        try check(ccurl_easy_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1))
        try check(ccurl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer))

        let userdata = Unmanaged.passUnretained(context).toOpaque()
        try check(ccurl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, curlWriteCallback))
        try check(ccurl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, userdata))
        try check(ccurl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, curlHeaderCallback))
        try check(ccurl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, userdata))
        try check(ccurl_easy_setopt_xferinfo(easy, curlXferinfoCallback, userdata))

        switch (request.method, request.body) {
        case ("GET", nil):
            try check(ccurl_easy_setopt_long(easy, CURLOPT_HTTPGET, 1))
        case ("HEAD", _):
            try check(ccurl_easy_setopt_long(easy, CURLOPT_NOBODY, 1))
        case ("POST", _):
            try check(ccurl_easy_setopt_long(easy, CURLOPT_POST, 1))
        default:
            try check(ccurl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.method))
        }

        var lines: [String] = request.headers.map { field in
            // "Name:" would make libcurl *remove* the header; "Name;" sends it empty.
            field.value.isEmpty ? "\(field.name);" : "\(field.name): \(field.value)"
        }
        // No 100-continue round trip (servers commonly ignore it, costing 1 s).
        if !request.headers.contains(name: "Expect") { lines.append("Expect:") }
        if (request.body != nil || request.method == "POST") && !request.headers.contains(name: "Content-Type") {
            // Suppress libcurl's default "application/x-www-form-urlencoded".
            lines.append("Content-Type:")
        }
        for line in lines {
            guard let appended = curl_slist_append(headerList, line) else {
                throw HTTPClientError(code: .other, message: "out of memory building headers", isRetriable: false)
            }
            headerList = appended
        }
        try check(ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList))
    }

    /// Drives the transfer to completion on this thread; returns libcurl's result.
    private func run(_ job: TransferJob) throws(HTTPClientError) -> CURLcode {
        guard job.attach(MultiWaker(multi: multi)) else { throw .cancelled() }
        defer { job.detach() }
        try checkMulti(curl_multi_add_handle(multi, easy))
        // Removing the handle also aborts an unfinished transfer (on cancel).
        defer { _ = curl_multi_remove_handle(multi, easy) }

        var running: Int32 = 1
        while true {
            try checkMulti(curl_multi_perform(multi, &running))
            if running == 0 { break }
            if job.isCancelled { throw .cancelled() }
            try checkMulti(curl_multi_poll(multi, nil, 0, Self.pollTimeoutMilliseconds, nil))
        }
        var result = CURLE_OK
        guard ccurl_multi_take_done(multi, &result) == 1 else {
            throw HTTPClientError(code: .other, message: "transfer ended without a result", isRetriable: false)
        }
        return result
    }

    private func check(_ code: CURLcode) throws(HTTPClientError) {
        guard code == CURLE_OK else { throw error(for: code, context: nil) }
    }

    private func checkMulti(_ code: CURLMcode) throws(HTTPClientError) {
        guard code == CURLM_OK else {
            let message = curl_multi_strerror(code).map { String(cString: $0) } ?? "multi error"
            throw HTTPClientError(code: .other, message: message, isRetriable: false)
        }
    }

    private func milliseconds(_ duration: Duration, _ name: String) throws(HTTPClientError) -> Int {
        let (seconds, attoseconds) = duration.components
        guard seconds > 0 || (seconds == 0 && attoseconds > 0) else {
            throw .invalidRequest("\(name) must be positive")
        }
        // Round sub-millisecond remainders up: 0 would mean "no timeout" to libcurl.
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return Int.max }
        return Int(ms) + Int((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }

    private func error(for code: CURLcode, context: TransferContext?) -> HTTPClientError {
        let detail = errorBuffer[0] != 0
            ? String(cString: errorBuffer)
            : String(cString: curl_easy_strerror(code))
        let curlCode = Int32(bitPattern: code.rawValue)
        func make(_ kind: HTTPClientError.Code, retriable: Bool) -> HTTPClientError {
            HTTPClientError(code: kind, curlCode: curlCode, message: detail, isRetriable: retriable)
        }
        if let context {
            if context.job.isCancelled && code == CURLE_ABORTED_BY_CALLBACK {
                return HTTPClientError(code: .cancelled, curlCode: curlCode, message: "request cancelled",
                                       isRetriable: false)
            }
            if context.exceededLimit && code == CURLE_WRITE_ERROR {
                return HTTPClientError(code: .tooLarge, curlCode: curlCode,
                                       message: "response body exceeds \(context.limit) bytes", isRetriable: false)
            }
        }
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            return make(.timeout, retriable: true)
        case CURLE_COULDNT_CONNECT, CURLE_PROXY:
            return make(.connectFailed, retriable: true)
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return make(.dns, retriable: true)
        case CURLE_FILESIZE_EXCEEDED:
            return make(.tooLarge, retriable: false)
        case CURLE_SSL_CONNECT_ERROR:
            // Handshake interrupted (often a reset); certificate problems are separate codes.
            return make(.tls, retriable: true)
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE,
             CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ISSUER_ERROR,
             CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CRL_BADFILE,
             CURLE_SSL_SHUTDOWN_FAILED, CURLE_USE_SSL_FAILED:
            return make(.tls, retriable: false)
        case CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE, CURLE_HTTP2,
             CURLE_HTTP2_STREAM, CURLE_HTTP3:
            return make(.protocolError, retriable: true)
        case CURLE_WEIRD_SERVER_REPLY, CURLE_TOO_MANY_REDIRECTS, CURLE_BAD_CONTENT_ENCODING:
            return make(.protocolError, retriable: false)
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_BAD_FUNCTION_ARGUMENT:
            return make(.invalidRequest, retriable: false)
        case CURLE_ABORTED_BY_CALLBACK:
            return make(.cancelled, retriable: false)
        default:
            return make(.other, retriable: false)
        }
    }
}

// MARK: - libcurl callbacks (run on the worker thread inside curl_multi_perform)

private func curlWriteCallback(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ userdata: UnsafeMutableRawPointer?
) -> Int {
    guard let userdata else { return 0 }
    let context = Unmanaged<TransferContext>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    guard length > 0, let data else { return length }
    guard context.body.count + length <= context.limit else {
        context.exceededLimit = true
        return 0  // != length: libcurl aborts with CURLE_WRITE_ERROR
    }
    if context.firstBodyByte == nil { context.firstBodyByte = ContinuousClock.now }
    context.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
    return length
}

private func curlHeaderCallback(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ userdata: UnsafeMutableRawPointer?
) -> Int {
    guard let userdata else { return 0 }
    let context = Unmanaged<TransferContext>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    guard length > 0, let data else { return length }
    var line = UnsafeRawBufferPointer(start: data, count: length)[...]
    while let last = line.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") {
        line = line.dropLast()
    }
    if line.starts(with: "HTTP/".utf8) {
        // Status line of a new response (interim 1xx, redirect hop, final):
        // keep only the headers of the last one.
        context.headers = HTTPHeaders()
    } else if let first = line.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
        context.headers.appendToLastValue(" " + trimmed(line))  // obsolete line folding
    } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
        context.headers.add(name: trimmed(line[..<colon]), value: trimmed(line[(colon + 1)...]))
    }
    return length
}

private func curlXferinfoCallback(
    _ userdata: UnsafeMutableRawPointer?, _ downloadTotal: curl_off_t, _ downloaded: curl_off_t,
    _ uploadTotal: curl_off_t, _ uploaded: curl_off_t
) -> Int32 {
    guard let userdata else { return 0 }
    let context = Unmanaged<TransferContext>.fromOpaque(userdata).takeUnretainedValue()
    // Non-zero aborts the transfer with CURLE_ABORTED_BY_CALLBACK.
    return context.job.isCancelled ? 1 : 0
}

private func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> String {
    var slice = bytes
    while let first = slice.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
        slice = slice.dropFirst()
    }
    while let last = slice.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
        slice = slice.dropLast()
    }
    return String(decoding: slice, as: UTF8.self)
}
