import Foundation

/// CPU time of the platform's processes, read from /proc (Linux only), for `bench turns`.
///
/// Which processes: the services whose environment has this stack's `GATEWAY_URL` (so another
/// stack on the same machine, e.g. a concurrent `make test`, is not counted), the dev broker
/// that is their sibling, and the Postgres cluster listening on `DATABASE_URL`'s port: its
/// postmaster and all its children.
struct StackProcesses {
    /// Counter name → pids ("gateway", …, "broker", "postgres").
    var groups: [String: [Int32]]
    /// The postmaster, whose reaped children's time (cutime + cstime) is counted too: a backend
    /// that exits during the run would otherwise take its CPU time with it.
    var postmaster: Int32?
    /// "port 55432", or "all" when the postmaster of that port was not found and every
    /// postgres process on the machine is counted.
    var postgresScope: String

    static let serviceNames = ["gateway", "planner", "executor", "verifier", "hilqueue"]

    static func discover(gatewayURL: String, databaseURL: String?) -> StackProcesses {
        let all = ProcInfo.all()
        var groups: [String: [Int32]] = [:]
        var serviceParents = Set<Int32>()
        for process in all {
            guard let executable = process.arguments.first.map({ ($0 as NSString).lastPathComponent }),
                  executable.hasPrefix("switchboard-") else { continue }
            guard ProcInfo.environment(of: process.pid)["GATEWAY_URL"] == gatewayURL else { continue }
            groups[String(executable.dropFirst("switchboard-".count)), default: []].append(process.pid)
            serviceParents.insert(process.ppid)
        }
        let brokers = all.filter { ($0.arguments.first.map { ($0 as NSString).lastPathComponent } == "switchboard") && $0.arguments.dropFirst().first == "broker" }
        // `switchboard up` starts the broker and the services as siblings.
        let ours = brokers.filter { serviceParents.contains($0.ppid) }
        groups["broker"] = (ours.isEmpty && brokers.count == 1 ? brokers : ours).map(\.pid)

        let port = databaseURL.flatMap { URLComponents(string: $0)?.port } ?? 5432
        let postgres = all.filter { $0.comm == "postgres" }
        let postgresPids = Set(postgres.map(\.pid))
        let postmasters = postgres.filter { !postgresPids.contains($0.ppid) }
        if let postmaster = postmasters.first(where: { Self.listens($0.arguments, port: port) }) ?? (postmasters.count == 1 ? postmasters.first : nil) {
            groups["postgres"] = [postmaster.pid] + postgres.filter { $0.ppid == postmaster.pid }.map(\.pid)
            return StackProcesses(groups: groups, postmaster: postmaster.pid, postgresScope: "port \(port)")
        }
        groups["postgres"] = postgres.map(\.pid)
        return StackProcesses(groups: groups, postmaster: nil, postgresScope: "all")
    }

    /// Whether a postmaster's command line names the port (`-p 55432`, `-p55432`, `--port=55432`,
    /// `-c port=55432`); a port set only in postgresql.conf is not seen.
    static func listens(_ arguments: [String], port: Int) -> Bool {
        for (index, argument) in arguments.enumerated() {
            if argument == "-p" || argument == "--port" || argument == "-c", index + 1 < arguments.count {
                let next = arguments[index + 1]
                if next == String(port) || next == "port=\(port)" { return true }
            }
            if argument == "-p\(port)" || argument == "--port=\(port)" { return true }
        }
        return false
    }

    /// CPU seconds per group now. Postgres is re-scanned each time, as backends come and go.
    func sample() -> CPUSample {
        var seconds: [String: Double] = [:]
        for (name, pids) in groups where name != "postgres" {
            seconds[name] = pids.reduce(0) { $0 + (ProcInfo.cpuSeconds($1, includeReapedChildren: false) ?? 0) }
        }
        if let postmaster {
            var total = ProcInfo.cpuSeconds(postmaster, includeReapedChildren: true) ?? 0
            for process in ProcInfo.all() where process.ppid == postmaster && process.comm == "postgres" {
                total += ProcInfo.cpuSeconds(process.pid, includeReapedChildren: false) ?? 0
            }
            seconds["postgres"] = total
        } else {
            seconds["postgres"] = ProcInfo.all().filter { $0.comm == "postgres" }.reduce(0) { $0 + (ProcInfo.cpuSeconds($1.pid, includeReapedChildren: false) ?? 0) }
        }
        return CPUSample(seconds: seconds, at: ContinuousClock.now)
    }

    /// "gateway=1 planner=1 … broker=1 postgres=4": how many processes each counter covers.
    var summary: String {
        (Self.serviceNames + ["broker", "postgres"]).map { "\($0)=\(groups[$0]?.count ?? 0)" }.joined(separator: " ")
    }
}

struct CPUSample {
    var seconds: [String: Double]
    var at: ContinuousClock.Instant

    /// CPU seconds per counter between two samples, with the totals the bench prints.
    static func delta(from start: CPUSample, to end: CPUSample) -> [String: Double] {
        var result: [String: Double] = [:]
        for (name, value) in end.seconds { result[name] = max(0, value - (start.seconds[name] ?? 0)) }
        let services = StackProcesses.serviceNames.reduce(0) { $0 + (result[$1] ?? 0) }
        result["services"] = services
        result["services_postgres"] = services + (result["postgres"] ?? 0)
        result["total"] = services + (result["postgres"] ?? 0) + (result["broker"] ?? 0)
        return result
    }
}

/// One process as /proc shows it.
struct ProcInfo {
    var pid: Int32
    var ppid: Int32
    var comm: String
    var arguments: [String]

    static let clockTicksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    static func all() -> [ProcInfo] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry in
            guard let pid = Int32(entry), let stat = statFields(pid) else { return nil }
            let arguments = (readProcFile("/proc/\(pid)/cmdline") ?? []).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return ProcInfo(pid: pid, ppid: Int32(stat.fields[1]) ?? 0, comm: stat.comm, arguments: arguments)
        }
    }

    /// utime + stime (and cutime + cstime if asked) in seconds; nil if the process is gone.
    static func cpuSeconds(_ pid: Int32, includeReapedChildren: Bool) -> Double? {
        guard let stat = statFields(pid), stat.fields.count > 14 else { return nil }
        // Fields after "(comm) ": state is field 3, so field n is at index n - 3:
        // utime 14, stime 15, cutime 16, cstime 17.
        var ticks = (Double(stat.fields[11]) ?? 0) + (Double(stat.fields[12]) ?? 0)
        if includeReapedChildren { ticks += (Double(stat.fields[13]) ?? 0) + (Double(stat.fields[14]) ?? 0) }
        return ticks / clockTicksPerSecond
    }

    static func environment(of pid: Int32) -> [String: String] {
        var result: [String: String] = [:]
        for entry in (readProcFile("/proc/\(pid)/environ") ?? []).split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            if let equals = text.firstIndex(of: "=") { result[String(text[..<equals])] = String(text[text.index(after: equals)...]) }
        }
        return result
    }

    /// comm may hold spaces and parentheses, so the fields are split after its last ')'.
    static func statFields(_ pid: Int32) -> (comm: String, fields: [Substring])? {
        guard let bytes = readProcFile("/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else { return nil }
        let comm = String(text[text.index(after: open)..<close])
        return (comm, text[text.index(after: close)...].split(separator: " "))
    }

    /// /proc files report size 0, so they are read until EOF rather than by their size.
    static func readProcFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { return nil }
            if n == 0 { return result }
            result.append(contentsOf: buffer[0..<n])
        }
    }
}
