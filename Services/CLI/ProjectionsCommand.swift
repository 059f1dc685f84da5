import ArgumentParser
import Foundation
import Kafka
import Logging
import Postgres
import ProjectionRebuild
import ReadModels

struct ProjectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections", abstract: "Rebuild read models from the log beside the live ones, verify, swap.",
        subcommands: [RebuildProjections.self, VerifyProjections.self]
    )
}

struct ProjectionOptions: ParsableArguments {
    @OptionGroup var log: LogOptions
    @Option(name: .customLong("database-url"), help: "Postgres URL (env DATABASE_URL).")
    var databaseURL: String?
    @Option(help: "A projection name (e.g. gateway.audit) or a read-model schema (gateway, hilqueue); default: all. A projection is rebuilt with the others of its schema.")
    var projection: String?

    func groups() throws -> [ReadModelSchema] {
        guard let projection else { return ReadModels.all }
        guard let group = ReadModels.group(named: projection) else {
            let known = ReadModels.all.flatMap { [$0.liveSchema] + $0.projections().map(\.name) }
            throw ValidationError("unknown projection '\(projection)'; known: \(known.joined(separator: ", "))")
        }
        return [group]
    }

    func rebuilder() throws -> (ProjectionRebuilder, PostgresPool) {
        let url = try CLIEnvironment.databaseURL(databaseURL)
        // One writer per projection during a one-pass rebuild, plus one for bookkeeping.
        let pool = PostgresPool(url: url, size: ReadModels.all.reduce(1) { $0 + $1.projections().count }, logger: quietLogger())
        return (ProjectionRebuilder(pool: pool, kafka: try log.kafka(client: "rebuild"), topic: log.topic, logger: quietLogger()), pool)
    }
}

struct RebuildProjections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rebuild", abstract: "Replay the log from offset 0 into a fresh schema while the live one keeps serving.")
    @OptionGroup var options: ProjectionOptions
    @Option(help: "Target schema (default <live>_rebuild). Only with a single schema.")
    var into: String?
    @Flag(help: "Drop the target schema first if it exists.")
    var replace = false
    @Flag(help: "Afterwards make the rebuilt schema the live one, atomically (the old one is kept, renamed).")
    var swap = false

    func run() async throws {
        let groups = try options.groups()
        if into != nil, groups.count != 1 { throw ValidationError("--into needs --projection naming one schema") }
        let (rebuilder, pool) = try options.rebuilder()
        do {
            // One pass over the log for all of them.
            let targets = groups.map { ProjectionRebuilder.RebuildTarget(group: $0, schema: into ?? "\($0.liveSchema)_rebuild") }
            let names = groups.map(\.liveSchema).joined(separator: ", ")
            let progress = try await rebuilder.rebuild(targets, replace: replace) { progress in
                FileHandle.standardError.write(Data("\(names): \(progress.line)\n".utf8))
            }
            for target in targets {
                writeOut("rebuilt \(target.group.liveSchema) into \(target.schema)\n")
            }
            writeOut("\(progress.events) events in \(String(format: "%.2f", progress.seconds))s (\(String(format: "%.0f", progress.eventsPerSecond)) events/s)\n")
            if swap {
                for target in targets {
                    let replaced = try await rebuilder.swap(target.group, rebuilt: target.schema)
                    writeOut("swapped: \(target.schema) is now \(target.group.liveSchema); the previous one is \(replaced)\n")
                }
            }
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
    }
}

struct VerifyProjections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Compare every projected table, row by row, between live and rebuilt; exits non-zero on a difference.")
    @OptionGroup var options: ProjectionOptions
    @Option(help: "Rebuilt schema to compare with (default: rebuild into <live>_verify now, and drop it afterwards).")
    var against: String?

    func run() async throws {
        let groups = try options.groups()
        let (rebuilder, pool) = try options.rebuilder()
        var allEqual = true
        do {
            if against == nil {
                try await rebuilder.rebuild(groups.map { .init(group: $0, schema: "\($0.liveSchema)_verify") }, replace: true)
            }
            for group in groups {
                let rebuilt = against ?? "\(group.liveSchema)_verify"
                let report = try await rebuilder.verify(group, rebuilt: rebuilt)
                writeOut(report.text + "\n")
                allEqual = allEqual && report.equal
                if against == nil {
                    try await pool.withConnection { try $0.execute(simple: "DROP SCHEMA \(try PostgresQuery.quotedIdentifier(rebuilt)) CASCADE") }
                }
            }
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
        if !allEqual { throw ExitCode(1) }
    }
}
