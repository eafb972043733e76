import Foundation
import TestSupport
import Testing

/// What Stage 4 adds: `poll` before a non-blocking accept, a connection limit, idle and send
/// timeouts. Stage 5 keeps all of it, so every test here runs against it too.
@Suite struct Stage4Tests {
    /// CPU time the process has used so far, in clock ticks, from `/proc/PID/stat`.
    func cpuTicks(of pid: Int32) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        return Int(fields[11])! + Int(fields[12])!  // utime and stime
    }

    /// A loop around a non-blocking accept without `poll` spins a whole core: about 100 ticks a
    /// second. Waiting in `poll`, an idle server uses next to none.
    @Test(arguments: Stage.guarded)
    func anIdleServerDoesNotSpin(stage: Stage) throws {
        try withServer(stage.name) { server in
            let before = try cpuTicks(of: server.pid)
            let window = ContinuousClock.now + .milliseconds(1500)
            // Observe the server's idle CPU over a fixed window; nothing here waits *for* it.
            while ContinuousClock.now < window { usleep(100_000) }
            let used = try cpuTicks(of: server.pid) - before
            #expect(used < 20, "an idle server used \(used) ticks in 1.5 s")
            // And it still accepts at once when someone comes.
            let client = try TestClient(port: server.port)
            try client.send("awake")
            #expect(try client.readLine() == "Received: awake")
        }
    }

    @Test(arguments: Stage.guarded)
    func beyondTheLimitANewClientIsTurnedAwayAndFreedSlotsAreReusedAtOnce(stage: Stage) throws {
        try withServer(stage.name, ["--max-clients", "2"]) { server in
            let first = try TestClient(port: server.port)
            try first.send("one")
            #expect(try first.readLine() == "Received: one")
            let second = try TestClient(port: server.port)
            try second.send("two")
            #expect(try second.readLine() == "Received: two")

            let third = try TestClient(port: server.port)
            #expect(try third.readUntilClosed() == ["ERR server full (max 2 clients)"])
            try server.waitForLine("[client-2] rejected: server full")
            // A rejected client held no slot: the other two are still served.
            try second.send("still two")
            #expect(try second.readLine() == "Received: still two")

            first.close()
            try server.waitForLine("[client-0] disconnected")
            let fourth = try TestClient(port: server.port)
            try fourth.send("four")
            #expect(try fourth.readLine() == "Received: four")
            try server.waitForLine { $0.hasPrefix("[client-3] connected from ") }
        }
    }

    @Test(arguments: Stage.guarded)
    func aSilentClientIsDisconnectedAfterTheIdleTimeoutAndItsSlotFreed(stage: Stage) throws {
        try withServer(stage.name, ["--idle-timeout", "0.3", "--max-clients", "1"]) { server in
            let silent = try TestClient(port: server.port)
            #expect(try silent.readUntilClosed() == ["ERR idle timeout (0.3s)"])
            try server.waitForLine("[client-0] idle timeout")
            try server.waitForLine("[client-0] disconnected")
            let next = try TestClient(port: server.port)
            try next.send("my turn")
            #expect(try next.readLine() == "Received: my turn")
        }
    }

    @Test(arguments: Stage.guarded)
    func theTimeoutCountsFromTheLastLineNotTheLastByte(stage: Stage) throws {
        try withServer(stage.name, ["--idle-timeout", "0.5"]) { server in
            let client = try TestClient(port: server.port)
            try client.send("a full line")
            #expect(try client.readLine() == "Received: a full line")
            // Trickle one byte every 100 ms, never a newline, until the server gives up.
            var trickled = 0
            var reply: String?
            while reply == nil && trickled < 100 {
                try client.send(bytes: [UInt8(ascii: "z")])
                trickled += 1
                reply = try? client.readLine(timeout: .milliseconds(100))
            }
            #expect(reply == "ERR idle timeout (0.5s)")
            // Bytes kept coming well inside the timeout, and they did not keep the client in.
            #expect(trickled >= 3)
            #expect(client.isClosedByServer())
        }
    }

    @Test(arguments: Stage.guarded)
    func aClientThatNeverReadsIsCutOffAndOthersKeepGettingAcks(stage: Stage) throws {
        try withServer(stage.name) { server in
            let listener = try TestClient(port: server.port)
            try server.waitForLine { $0.hasPrefix("[client-0] connected") }
            let deaf = try TestClient(port: server.port, receiveBuffer: 4096)
            try server.waitForLine { $0.hasPrefix("[client-1] connected") }
            // 8 MiB of ACKs: more than the server's send buffer and the deaf client's receive
            // buffer hold together. The deaf client reads none of them.
            let line = String(repeating: "d", count: 4000) + "\n"
            try deaf.send(bytes: Array(String(repeating: line, count: 2048).utf8))
            // The consumer is stuck sending to the deaf client; the urgent line is next in line.
            try listener.send("/urgent can you hear me")
            #expect(try listener.readLine() == "Received: can you hear me")
            try server.waitForLine("[client-1] send timed out")
            try server.waitForLine("[client-1] disconnected")
            // And the consumer is free for good: the next line is answered too.
            try listener.send("and now")
            #expect(try listener.readLine() == "Received: and now")
        }
    }

    @Test(arguments: Stage.guarded)
    func badValuesForTheNewOptionsExit64(stage: Stage) throws {
        for arguments in [
            ["--max-clients", "0"], ["--max-clients", "x"], ["--idle-timeout", "0"],
            ["--idle-timeout", "-2"], ["--work-delay", "soon"],
        ] {
            let run = try runToExit(stage.name, arguments)
            #expect(run.status == 64)
            #expect(run.stderr.hasPrefix("error: bad value"))
        }
    }
}
