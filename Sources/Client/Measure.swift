import Foundation
import Glibc
import Net

/// `Client measure`: every stage, the same scenarios, one table.
///
/// Each scenario starts a fresh server, so that what one scenario leaves behind (Stage 1 stuck
/// on a client that never reads, say) cannot spoil the next, and kills it afterwards. The
/// servers run one at a time, never side by side: on a machine with two cores, two servers
/// would measure each other.
func runMeasure(quick: Bool) -> Never {
    let settings = quick ? MeasureSettings.quick : MeasureSettings.full
    let directory = executableDirectory()
    let stages = StageColumn.all(in: directory)
    for stage in stages where !FileManager.default.isExecutableFile(atPath: stage.path) {
        logError("error: \(stage.name) is not built next to Client, in \(directory.path)")
        logError("Build every stage first, with the same configuration: swift build -c release")
        exit(1)
    }
    killServerOnInterrupt()

    let scenarios = Scenario.all(settings)
    // cells[row][stage], filled one stage (one column) at a time; `nil` is printed `n/a`.
    var cells = scenarios.flatMap(\.rows).map { _ in [String?]() }
    var failures = 0
    for stage in stages {
        var row = 0
        for scenario in scenarios {
            logError("measure: \(stage.name): \(scenario.rows[0])")
            let measured: [String?]
            do {
                measured = try scenario.measure(stage)
            } catch {
                // Reported, counted, and shown as n/a; the other scenarios still run.
                logError("measure: \(stage.name): failed: \(error)")
                failures += 1
                measured = scenario.rows.map { _ in nil }
            }
            for value in measured {
                cells[row].append(value)
                row += 1
            }
        }
    }

    log("| Scenario | " + stages.map { "Stage \($0.number)" }.joined(separator: " | ") + " |")
    log("| --- |" + String(repeating: " ---: |", count: stages.count))
    for (label, values) in zip(scenarios.flatMap(\.rows), cells) {
        log("| \(label) | " + values.map { $0 ?? "n/a" }.joined(separator: " | ") + " |")
    }
    exit(failures == 0 ? 0 : 1)
}

/// How big each scenario is. `--quick` makes everything tiny, so that the tests run it in
/// seconds; its numbers show the table's shape, not the stages' speed.
struct MeasureSettings {
    var oneClientMessages = 5000
    var tenClientsMessages = 1000
    var manyClients = 100
    var manyClientsMessages = 100
    /// Clients that each send one line while another client occupies the server.
    var talkers = 3
    /// How long the talkers wait for their replies while an idle client is connected.
    var idleClientDeadline = 2.0
    /// How long the talkers wait while a client that never reads is connected. Well over the
    /// one-second send timeout of Stages 4 and 5: a send that makes a little progress before
    /// each second is out starts the timeout again, and it takes them about three seconds.
    var neverReadsDeadline = 5.0
    /// How much a client that never reads sends: more than the server's send buffer and its
    /// own receive buffer hold together.
    var floodBytes = 8 << 20
    /// How long a client that reads its replies floods the server, and how much it may send:
    /// a bound in time and in bytes, whatever the stage's memory does meanwhile.
    var floodSeconds = 5.0
    var floodReadingBytes = 4 << 30
    /// `--work-delay` for the scenarios that need a queue to form.
    var workDelay = 0.05
    /// Lines sent in one go by the `/urgent` and SIGINT scenarios. Fewer than the 8 unanswered
    /// messages a client may have in Stage 4's queue: with more, the server would leave the
    /// last lines unread in the socket (backpressure), and the urgent line, or the lines a
    /// shutdown must answer, would be among them.
    var burst = 6
    var idleWindow = 3.0
    /// No load run takes longer than this: the rate is then over the messages answered so far.
    /// Stage 2 answers ten clients at a few hundred messages a second.
    var loadTimeout = 10.0

    static let full = MeasureSettings()

    static let quick = MeasureSettings(
        oneClientMessages: 50, tenClientsMessages: 10, manyClients: 20, manyClientsMessages: 5,
        talkers: 3, idleClientDeadline: 0.3, neverReadsDeadline: 1, floodBytes: 8 << 20,
        floodSeconds: 0.5, floodReadingBytes: 64 << 20, workDelay: 0.01, burst: 5, idleWindow: 0.3,
        loadTimeout: 5)
}

/// One column of the table: a stage, and what it can be asked to do.
struct StageColumn {
    let number: Int
    let name: String
    let directory: URL

    static func all(in directory: URL) -> [StageColumn] {
        [
            "Stage1SingleThread", "Stage2ThreadPerClient", "Stage3PriorityQueue",
            "Stage4NonBlocking", "Stage5Shutdown", "Stage6EventLoop",
        ].enumerated().map {
            StageColumn(number: $0.offset + 1, name: $0.element, directory: directory)
        }
    }

    var path: String { directory.appendingPathComponent(name).path }

    /// Stage 1: one client is served, the others wait unaccepted until it leaves.
    var acceptsOneAtATime: Bool { number == 1 }

    /// Stage 3 on: a queue with priorities, and `--work-delay`.
    var queuesMessages: Bool { number >= 3 }

    /// Starts the stage, runs `body` with it, and kills it afterwards whatever happened.
    ///
    /// Stages 4 and 5 get `--max-clients 200` unless `defaultLimit` is set: their default of 3
    /// would turn most of the load away, and the rows would measure the limit instead of the
    /// server.
    func withServer<Result>(
        _ arguments: [String] = [], defaultLimit: Bool = false,
        _ body: (StageServer) throws -> Result
    ) throws -> Result {
        let limit = number >= 4 && !defaultLimit ? ["--max-clients", "200"] : []
        let server = try StageServer(name, in: directory, arguments: limit + arguments)
        defer { server.stop() }
        return try body(server)
    }

    /// Starts the stage with a first client connected and accepted, the one whose doings the row
    /// is about, runs `body` with both, and keeps that client connected until `body` returns.
    func withFirstClient<Result>(
        _ arguments: [String] = [], receiveBuffer: Int32? = nil,
        _ body: (StageServer, Connection) throws -> Result
    ) throws -> Result {
        try withServer(arguments) { server in
            let first = try Connection.connect(to: server.address, receiveBuffer: receiveBuffer)
            try server.waitForClient(0, until: .now + .seconds(5))
            return try withExtendedLifetime(first) { try body(server, first) }
        }
    }
}

/// The directory of the running executable, where `swift build` put every product.
/// `/proc/self/exe` is the kernel's link to it, whatever the current directory or `PATH`.
func executableDirectory() -> URL {
    var path = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/exe", &path, path.count - 1)
    guard length > 0 else {
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }
    let bytes = path[..<length].map { UInt8(bitPattern: $0) }
    return URL(fileURLWithPath: String(decoding: bytes, as: UTF8.self)).deletingLastPathComponent()
}
