import Foundation
import Glibc
import TestSupport
import Testing

/// The `strace` listings in the docs show the system calls a stage really makes.
///
/// A listing is a ```text or ```console block preceded by `<!-- strace: STAGE -->`, or by
/// `<!-- strace: STAGE trace=poll,accept -->` when it was recorded with a narrower `-e trace=`.
/// The test runs STAGE under `strace -f` through one scenario (a client sends lines, shuts its
/// side, a second client resets; Stage 5 then gets SIGINT on a third client's thread), and
/// checks each listing against that run: every two socket calls that a listing shows one after
/// the other, in one thread, the server must really make one after the other, in some thread,
/// with the same flags (`SOL_TCP`, `TCP_NODELAY`, `MSG_NOSIGNAL`, `SHUT_RD`, `POLLIN` …).
/// A call the server added, dropped or moved breaks a pair, and the listing is stale.
/// Other calls (`write`, `close`), log lines, addresses and results are not compared.
@Suite struct StraceListingTests {
    /// Where `strace` is, if it is installed.
    static let strace: String? = ["/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    static let listings = Docs.allBlocks.filter { $0.lineAbove.hasPrefix("<!-- strace: ") }

    /// The stages the listings name, each checked once against one traced run.
    static let stages = Array(Set(listings.map { Marker($0).stage })).sorted()

    /// The socket calls compared; `poll` too, as the stages that poll wait in it.
    static let socketCalls: Set<String> = [
        "socket", "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername",
        "setsockopt", "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "poll",
    ]

    @Test func theDocsHaveStraceListings() {
        #expect(
            Self.listings.count >= 4, "listings marked <!-- strace: STAGE -->: \(Self.listings)")
    }

    // Skipped, not passed, where strace is not installed (a macOS host, a bare container): the
    // listings are then simply not checked. CI installs strace so that they are.
    @Test(.enabled(if: strace != nil, "strace is not installed"), arguments: stages)
    func listingsShowTheCallsTheServerMakes(stage: String) throws {
        // Stage 5's listings show SIGINT landing on the main thread (Ctrl-C) and on a client's
        // thread: one run of each, their threads read together.
        let targets: [TracedRun.SignalTarget] =
            stage == "Stage5Shutdown" ? [.mainThread, .clientThread] : [.mainThread]
        let run = try TracedRun(
            threads: targets.flatMap {
                try TracedRun(stage: stage, strace: Self.strace!, signalling: $0).threads
            })
        for listing in Self.listings where Marker(listing).stage == stage {
            let only = Marker(listing).only
            let real = run.threads.map { $0.filter { only?.contains($0.name) ?? true } }
            let realPairs = Set(real.flatMap { zip($0, $0.dropFirst()).map { "\($0) → \($1)" } })
            let realCalls = Set(real.joined().map(\.description))
            let shown = Self.threads(in: listing.lines).map {
                $0.filter {
                    Self.socketCalls.contains($0.name) && (only?.contains($0.name) ?? true)
                }
            }
            #expect(!shown.joined().isEmpty, "\(listing): no socket call in this listing")
            for thread in shown {
                for call in thread where !realCalls.contains(call.description) {
                    Issue.record(
                        "\(listing): \(stage) never makes \(call); it makes \(realCalls.sorted())")
                }
                for (first, second) in zip(thread, thread.dropFirst()) {
                    let pair = "\(first) → \(second)"
                    #expect(
                        realPairs.contains(pair),
                        "\(listing): shows \(pair), which \(stage) never does; its threads made:\n\(run.describe(only))"
                    )
                }
            }
        }
    }

    /// What the marker above a listing says: the stage, and the calls `-e trace=` kept, if named.
    struct Marker {
        let stage: String
        let only: Set<String>?
        init(_ block: Docs.Block) {
            let words = block.lineAbove.dropFirst("<!-- strace: ".count)
                .replacingOccurrences(of: "-->", with: "").split(separator: " ").map(String.init)
            stage = words.first ?? ""
            only = words.first { $0.hasPrefix("trace=") }
                .map { Set($0.dropFirst("trace=".count).split(separator: ",").map(String.init)) }
        }
    }

    /// One system call as compared: its name and the flag constants among its arguments.
    struct Call: CustomStringConvertible {
        let name: String
        let flags: [String]
        var description: String {
            flags.isEmpty ? name : "\(name)(\(flags.joined(separator: ",")))"
        }

        /// Parses a line of `strace` output (with or without a thread id or a `-tt` time in
        /// front); nil for anything else: log lines, signals, `<... resumed>` ends.
        init?(line: String) {
            guard
                let match = line.wholeMatch(
                    of: /(?:\[pid\s+\d+\]\s+|\d+\s+)?(?:\d\d:\d\d:\d\d\.\d+\s+)?([a-z_0-9]+)\((.*)/)
            else { return nil }
            name = String(match.output.1)
            // The arguments, without the result: `= 0 (Timeout)`, `= -1 EAGAIN …`.
            var arguments = String(match.output.2)
            if let end = arguments.range(of: "<unfinished", options: .backwards) {
                arguments = String(arguments[..<end.lowerBound])
            } else if let end = arguments.range(of: ") = ", options: .backwards)
                ?? arguments.range(of: ")  ", options: .backwards)
            {
                arguments = String(arguments[..<end.lowerBound])
            }
            // Inputs the server chooses; `sa_family=AF_INET` or `revents=` are results. Data in
            // quotes is left out, and strace's `_OLD` suffix (SO_RCVTIMEO_OLD) too: not every
            // strace prints it.
            flags = arguments.replacing(/"(?:[^"\\]|\\.)*"/, with: "")
                .matches(of: /\b(?:SOL|SO|TCP|MSG|SHUT|SOCK|IPPROTO|POLL)[A-Z_]*\b/)
                .map { String($0.output).replacingOccurrences(of: "_OLD", with: "") }.sorted()
        }
    }

    /// The calls in `lines`, one list per thread (by the id `strace -f` puts first), in order.
    /// A line `...` marks trimmed output: the calls on either side are not a pair.
    static func threads(in lines: [String]) -> [[Call]] {
        var order: [String] = []
        var calls: [String: [Call]] = [:]
        var piece = 0
        for line in lines {
            if line.trimmingCharacters(in: .whitespaces) == "..." {
                piece += 1
                continue
            }
            guard let call = Call(line: line) else { continue }
            let id = line.firstMatch(of: /^(?:\[pid\s+)?(\d+)[\]\s]/).map { String($0.output.1) }
            let key = "\(id ?? "main")/\(piece)"
            if calls[key] == nil { order.append(key) }
            calls[key, default: []].append(call)
        }
        return order.map { calls[$0]! }
    }
}

/// A stage run under `strace -f` through the scenario, its trace read once it has exited.
struct TracedRun {
    let threads: [[StraceListingTests.Call]]

    /// Which thread of Stage 5 gets the SIGINT that ends the run.
    enum SignalTarget { case mainThread, clientThread }

    init(threads: [[StraceListingTests.Call]]) { self.threads = threads }

    init(stage: String, strace: String, signalling target: SignalTarget) throws {
        let traceFile = FileManager.default.temporaryDirectory
            .appendingPathComponent(
                "strace-\(stage)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).txt")
        defer { try? FileManager.default.removeItem(at: traceFile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: strace)
        process.arguments = [
            "-f", "-qq", "-o", traceFile.path, "-e", "trace=%network,poll",
            ServerProcess.binaryDirectory.appendingPathComponent(stage).path, "--port", "0",
        ]
        let (output, outPipe) = (OutputLog(), Pipe())
        process.standardOutput = outPipe
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        output.collect(from: outPipe.fileHandleForReading)
        // The server is strace's child: the scenario signals it, not strace.
        var server: pid_t = 0
        defer {
            if server > 0 { kill(server, SIGKILL) }
            if exited.wait(timeout: .now() + 10) != .success {
                kill(process.processIdentifier, SIGKILL)
            }
            process.waitUntilExit()
        }
        let listening = try output.waitForLine(timeout: defaultTimeout) {
            $0.hasPrefix("listening on ")
        }
        let children = try String(
            contentsOfFile:
                "/proc/\(process.processIdentifier)/task/\(process.processIdentifier)/children",
            encoding: .utf8)
        server = pid_t(children.split(separator: " ").first ?? "") ?? 0
        guard server > 0,
            let port = listening.line.split(separator: ":").last.flatMap({ UInt16($0) })
        else {
            throw TestFailure(
                "\(stage) under strace: no server process or port; stdout: \(output.lines)")
        }

        // Lines and replies, a partial close, then end of file.
        let a = try TestClient(port: port)
        try a.send("hello")
        _ = try a.readLine()
        try a.send(bytes: Array("one\ntwo\n".utf8))
        _ = try a.readLines(2)
        a.shutdownWrite()
        _ = try a.readUntilClosed()
        a.close()
        // A reset: the server's next recv fails with ECONNRESET.
        let b = try TestClient(port: port)
        try b.send("hello")
        _ = try b.readLine()
        b.reset()
        try output.waitForLine(timeout: defaultTimeout) { $0 == "[client-1] disconnected" }

        if stage == "Stage5Shutdown" {
            // SIGINT aimed at the main thread, where Ctrl-C usually lands: its `poll` fails with
            // EINTR, and the loop's next `poll` sees the pipe. Or aimed at c's thread while it
            // waits in `recv`: its `recv` fails with EINTR and is made again, and the main thread
            // wakes for the pipe. The thread waits in `recv` once the kernel shows it asleep in
            // `wait_woken`; once a's thread has ended too, c's is the only one that can.
            try output.waitForLine(timeout: defaultTimeout) { $0 == "[client-0] disconnected" }
            let c = try TestClient(port: port)
            try c.send("hello")
            _ = try c.readLine()
            // (A kernel may name its poll sleep `poll_schedule_timeout.constprop.0`: a prefix.)
            let thread =
                target == .mainThread
                ? try Self.waitForThread(
                    named: "Stage5Shutdown", of: server, asleepIn: "poll_schedule_timeout")
                : try Self.waitForThread(named: nil, of: server, asleepIn: "wait_woken")
            guard tgkill(server, thread, SIGINT) == 0 else {
                throw TestFailure("tgkill \(server) \(thread): errno \(errno)")
            }
            _ = try c.readUntilClosed()
        } else {
            kill(server, SIGKILL)
        }
        server = 0
        guard exited.wait(timeout: .now() + defaultTimeout / .seconds(1)) == .success else {
            throw TestFailure("\(stage) under strace did not end; stdout: \(output.lines)")
        }
        // strace ends as its child did: Stage 5 exits 0, the others die of the SIGKILL.
        let expected: (Process.TerminationReason, Int32) =
            stage == "Stage5Shutdown" ? (.exit, 0) : (.uncaughtSignal, SIGKILL)
        guard (process.terminationReason, process.terminationStatus) == expected else {
            throw TestFailure(
                "\(stage) under strace ended with \(process.terminationReason) "
                    + "\(process.terminationStatus); stdout: \(output.lines)")
        }
        let trace = try String(contentsOf: traceFile, encoding: .utf8)
        threads = StraceListingTests.threads(in: trace.components(separatedBy: "\n")).filter {
            !$0.isEmpty
        }.map { $0.filter { StraceListingTests.socketCalls.contains($0.name) } }
    }

    /// Waits until the thread of `process` named `name` (any thread, when nil) sleeps in the kernel
    /// function `wait`, or one whose name begins with it (from `/proc/PID/task/TID/wchan`), and
    /// returns its id.
    static func waitForThread(named name: String?, of process: pid_t, asleepIn wait: String) throws
        -> pid_t
    {
        let deadline = ContinuousClock.now + defaultTimeout
        var seen: [String] = []
        while ContinuousClock.now < deadline {
            let tasks =
                (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process)/task"))
                ?? []
            seen = tasks.map { task in
                let read = { (file: String) in
                    (try? String(
                        contentsOfFile: "/proc/\(process)/task/\(task)/\(file)", encoding: .utf8))?
                        .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                }
                return "\(task) \(read("comm")) \(read("wchan"))"
            }
            if let found = seen.first(where: {
                let words = $0.split(separator: " ")
                return words.count == 3 && (name == nil || words[1] == name!)
                    && words[2].hasPrefix(wait)
            }),
                let id = pid_t(found.prefix { $0 != " " })
            {
                return id
            }
            usleep(5_000)
        }
        throw TestFailure(
            "no thread \(name ?? "at all") asleep in \(wait) within \(defaultTimeout); threads: \(seen)"
        )
    }

    /// Each thread's calls, for a failure message, restricted to `only` if it is given.
    func describe(_ only: Set<String>?) -> String {
        threads.map { thread in
            thread.filter { only?.contains($0.name) ?? true }.map(\.description)
                .joined(separator: " → ")
        }.filter { !$0.isEmpty }.joined(separator: "\n")
    }
}
