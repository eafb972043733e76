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
        let server = try ServerProcess.launch(
            stage.name, stage.contractArguments, redirections: closed.rawValue)
        defer { server.forceStop() }
        let port = server.port
        do {
            if !closed.descriptors.contains(1) {
                // The port found in /proc is the one the server announces.
                try server.waitForLine("listening on 127.0.0.1:\(port)")
            }
            // What `ls -l /proc/PID/fd` shows: none of the server's sockets or pipes sits where
            // its log, or anything else that reads or writes 0, 1 and 2, would find it.
            for descriptor in closed.descriptors {
                let target = target(of: descriptor, in: server)
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
            throw TestFailure(
                "\(error); meanwhile \(stage.name) \(server.isRunning ? "is still running" : "ended"); "
                    + "stdout: \(server.lines), stderr: \(server.errorLines)")
        }
        // Each also fails on a crash or sanitizer report on stderr.
        if stage.number >= 5 {
            server.signal(SIGINT)
            try expect(server.waitForExit(), is: 0, "\(stage.name)'s exit status after SIGINT")
        } else {
            guard server.isRunning else {
                throw TestFailure("\(stage.name) ended before it was killed: \(server.errorLines)")
            }
            server.signal(SIGKILL)
            try expect(server.waitForDeathBySignal(), is: SIGKILL, "what ended \(stage.name)")
        }
    }

    /// What descriptor `descriptor` of the server is, as `ls -l /proc/PID/fd` shows it:
    /// `/dev/null`, `socket:[12345]`, `pipe:[6789]`...; `closed` when it is not open.
    private func target(of descriptor: Int32, in server: ServerProcess) -> String {
        let link = "/proc/\(server.pid)/fd/\(descriptor)"
        return (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) ?? "closed"
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
