import Foundation
import Glibc
import TestSupport
import Testing

/// Every stage started with some of its standard descriptors closed, as a shell does for
/// `Stage2ThreadPerClient --port 0 <&- >&-`. The kernel hands out the lowest free descriptor, so
/// the server's first sockets and pipes would take 0, 1 and 2: its log lines, written to 1, would
/// reach a client's connection, or Stage 5's and 6's own shutdown pipe. A careful server opens
/// `/dev/null` on any of them that is closed before it opens anything else.
@Suite struct ClosedStandardDescriptorsTests {
    /// Which standard descriptors the shell closes, and how it is told to.
    enum Closed: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case input = "<&-"
        case output = ">&-"
        case inputAndOutput = "<&- >&-"
        case all = "<&- >&- 2>&-"

        var descriptors: [Int32] {
            switch self {
            case .input: [0]
            case .output: [1]
            case .inputAndOutput: [0, 1]
            case .all: [0, 1, 2]
            }
        }

        var testDescription: String { rawValue }
    }

    /// Two clients at once, then a third: each receives its own replies and nothing else, no log
    /// line (`connected from`, `listening on`), no `Quit`. Then the server ends as it always does:
    /// Stages 1 to 4 when killed, Stages 5 and 6 at SIGINT, with exit status 0, and not before.
    @Test(arguments: Stage.all, Closed.allCases)
    func clientsReceiveOnlyTheirOwnReplies(stage: Stage, closed: Closed) throws {
        let server = try ServerWithClosedDescriptors(stage, closing: closed)
        defer { server.kill() }
        do {
            let port = try server.waitForListeningPort()
            if !closed.descriptors.contains(1) {
                // The port found in /proc is the one the server announces.
                try server.waitForOutputLine("listening on 127.0.0.1:\(port)")
            }
            // What `ls -l /proc/PID/fd` shows: none of the server's sockets or pipes sits where
            // its log, or anything else that reads or writes 0, 1 and 2, would find it.
            for descriptor in closed.descriptors {
                let target = server.target(of: descriptor)
                #expect(
                    !["socket:", "pipe:", "anon_inode:"].contains { target.hasPrefix($0) },
                    "\(stage.name) \(closed.rawValue): descriptor \(descriptor) is \(target)")
            }

            let first = try TestClient(port: port)
            try first.send("one")
            var firstSaw = try lines(from: first, through: stage.reply(to: "one", from: 0))
            let second = try TestClient(port: port)
            try second.send("two")
            if stage.broadcasts {
                firstSaw += try lines(from: first, through: stage.reply(to: "two", from: 1))
            }
            first.shutdownWrite()
            firstSaw += try first.readUntilClosed()
            let firstExpected =
                [stage.reply(to: "one", from: 0)]
                + (stage.broadcasts ? [stage.reply(to: "two", from: 1)] : [])
            expect(firstSaw, is: firstExpected, "everything client-0 received")
            try expectOnly(stage.reply(to: "two", from: 1), from: second)

            // Still running and still listening: no shutdown began by itself.
            guard server.isRunning else {
                throw TestFailure("\(stage.name) ended before it was told to")
            }
            let third = try TestClient(port: port)
            try third.send("three")
            try expectOnly(stage.reply(to: "three", from: 2), from: third)
        } catch {
            throw TestFailure("\(error); meanwhile \(stage.name) \(server.state)")
        }
        if stage.number >= 5 {
            server.signal(SIGINT)
            try expect(server.waitForExit(), is: 0, "\(stage.name)'s exit status after SIGINT")
        } else {
            try server.killAndCheckItWasRunning()
        }
        try server.checkNoCrashReport()
    }

    /// Reads lines from `client` up to and including `line`, and returns every one read: `[line]`
    /// alone when nothing else came first.
    private func lines(from client: TestClient, through line: String) throws -> [String] {
        var seen: [String] = []
        repeat {
            do {
                seen.append(try client.readLine())
            } catch {
                throw TestFailure("waiting for '\(line)', a client read \(seen), then: \(error)")
            }
        } while seen.last != line
        return seen
    }

    /// Checks that `client` receives `reply`, then, once it has closed its side, nothing more
    /// before the server closes the connection.
    private func expectOnly(_ reply: String, from client: TestClient) throws {
        var seen = try lines(from: client, through: reply)
        client.shutdownWrite()
        seen += try client.readUntilClosed()
        expect(seen, is: [reply], "everything the client expecting '\(reply)' received")
    }
}

/// A stage started by `/bin/sh -c 'exec STAGE --port 0 ARGUMENTS <&- >&-'`: the shell closes the
/// descriptors, then becomes the server, with the same process id.
private final class ServerWithClosedDescriptors {
    private let process = Process()
    private let name: String
    private let output = OutputLog()
    private let errors = OutputLog()
    private let exited = DispatchSemaphore(value: 0)

    init(_ stage: Stage, closing closed: ClosedStandardDescriptorsTests.Closed) throws {
        name = stage.name
        let executable = ServerProcess.binaryDirectory.appendingPathComponent(stage.name).path
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments =
            ["-c", "exec \"$0\" \"$@\" \(closed.rawValue)", executable, "--port", "0"]
            + stage.contractArguments
        var environment = ProcessInfo.processInfo.environment
        // Under `--sanitize=thread`, stop at the first report so the test sees the exit at once.
        environment["TSAN_OPTIONS"] = "halt_on_error=1"
        process.environment = environment
        let (outPipe, errPipe) = (Pipe(), Pipe())
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = outPipe
        process.standardError = errPipe
        let exited = exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        output.collect(from: outPipe.fileHandleForReading)
        errors.collect(from: errPipe.fileHandleForReading)
    }

    var isRunning: Bool { process.isRunning }

    /// Whether the server is running, or how it ended, and what it said on stdout and stderr.
    var state: String {
        let how =
            process.isRunning
            ? "is still running"
            : (process.terminationReason == .exit ? "exited with status " : "died of signal ")
                + "\(process.terminationStatus)"
        return "\(how); stdout: \(output.lines), stderr: \(errors.lines)"
    }

    /// Waits until the server listens, and returns the port, found in `/proc`: its log may
    /// have nowhere to go.
    func waitForListeningPort() throws -> UInt16 {
        let deadline = ContinuousClock.now + defaultTimeout
        while true {
            if let port = listeningPort(ofProcess: process.processIdentifier) { return port }
            guard process.isRunning else {
                throw TestFailure("\(name) ended before /proc showed it listening on a port")
            }
            guard ContinuousClock.now < deadline else {
                throw TestFailure("\(name) listened on no port in /proc within \(defaultTimeout)")
            }
            usleep(5_000)
        }
    }

    func waitForOutputLine(_ text: String) throws {
        try output.waitForLine(timeout: defaultTimeout) { $0 == text }
    }

    /// What descriptor `descriptor` of the server is, as `ls -l /proc/PID/fd` shows it:
    /// `/dev/null`, `socket:[12345]`, `pipe:[6789]`...; `closed` when it is not open.
    func target(of descriptor: Int32) -> String {
        let link = "/proc/\(process.processIdentifier)/fd/\(descriptor)"
        return (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) ?? "closed"
    }

    func signal(_ number: Int32) {
        Glibc.kill(process.processIdentifier, number)
    }

    /// Waits for the server to exit by itself, and returns its exit status; a death by a signal
    /// fails.
    func waitForExit() throws -> Int32 {
        guard exited.wait(timeout: .now() + defaultTimeout / .seconds(1)) == .success else {
            throw TestFailure("\(name) did not exit within \(defaultTimeout); it \(state)")
        }
        exited.signal()  // Leaves the news there for `kill`.
        process.waitUntilExit()
        guard process.terminationReason == .exit else { throw TestFailure("\(name) \(state)") }
        return process.terminationStatus
    }

    /// Ends the server, which must still have been running: one that ended by itself fails.
    func killAndCheckItWasRunning() throws {
        guard process.isRunning else {
            throw TestFailure("\(name) ended before it was killed: it \(state)")
        }
        kill()
        guard process.terminationReason == .uncaughtSignal, process.terminationStatus == SIGKILL
        else { throw TestFailure("\(name) was killed, yet it \(state)") }
    }

    /// Checks stderr, once the server has ended, for a crash or a sanitizer report.
    func checkNoCrashReport() throws {
        errors.waitForEnd(timeout: .seconds(2))
        let text = errors.lines.joined(separator: "\n")
        if text.contains("Sanitizer") || text.contains("Fatal error") {
            throw TestFailure("\(name) reported on stderr:\n\(text)")
        }
    }

    func kill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
