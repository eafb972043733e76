import Foundation
import TestSupport
import Testing

/// What Stage 4 adds: `poll` before a non-blocking accept, a connection limit, idle and send
/// timeouts. Stage 5 keeps all of it, so every test here runs against it too.
@Suite struct Stage4Tests {
    /// A loop around a non-blocking accept without `poll` spins a whole core: about 100 ticks a
    /// second. Waiting in `poll`, an idle server uses next to none.
    @Test(arguments: Stage.guarded)
    func anIdleServerDoesNotSpin(stage: Stage) throws {
        try withServer(stage.name) { server in
            try server.checkIdle()
            // And it still accepts at once when someone comes.
            let client = try TestClient(port: server.port)
            try client.send("awake")
            try expect(client.readLine(), is: "Received: awake")
        }
    }

    @Test(arguments: Stage.guarded)
    func beyondTheLimitANewClientIsTurnedAwayAndFreedSlotsAreReusedAtOnce(stage: Stage) throws {
        try withServer(stage.name, ["--max-clients", "2"]) { server in
            let first = try TestClient(port: server.port)
            try first.send("one")
            try expect(first.readLine(), is: "Received: one")
            let second = try TestClient(port: server.port)
            try second.send("two")
            try expect(second.readLine(), is: "Received: two")

            let third = try TestClient(port: server.port)
            try expect(third.readUntilClosed(), is: ["ERR server full (max 2 clients)"])
            try server.waitForLine("[client-2] rejected: server full")
            // A rejected client held no slot: the other two are still served.
            try second.send("still two")
            try expect(second.readLine(), is: "Received: still two")

            first.close()
            try server.waitForLine("[client-0] disconnected")
            let fourth = try TestClient(port: server.port)
            try fourth.send("four")
            try expect(fourth.readLine(), is: "Received: four")
            try server.waitForLine { $0.hasPrefix("[client-3] connected from ") }
        }
    }

    @Test(arguments: Stage.guarded)
    func aSilentClientIsDisconnectedAfterTheIdleTimeoutAndItsSlotFreed(stage: Stage) throws {
        try withServer(stage.name, ["--idle-timeout", "0.3", "--max-clients", "1"]) { server in
            let silent = try TestClient(port: server.port)
            try expect(silent.readUntilClosed(), is: ["ERR idle timeout (0.3s)"])
            try server.waitForLine("[client-0] idle timeout")
            try server.waitForLine("[client-0] disconnected")
            let next = try TestClient(port: server.port)
            try next.send("my turn")
            try expect(next.readLine(), is: "Received: my turn")
        }
    }

    @Test(arguments: Stage.guarded)
    func theTimeoutCountsFromTheLastLineNotTheLastByte(stage: Stage) throws {
        try withServer(stage.name, ["--idle-timeout", "0.5"]) { server in
            // Bytes must keep coming well inside the timeout for the test to prove anything: a
            // machine so busy that this thread stood still for the whole timeout spoils the
            // attempt (the server was right to time out), and it is made again.
            for attempt in 1...3 {
                let client = try TestClient(port: server.port)
                try client.send("a full line")
                try expect(client.readLine(), is: "Received: a full line")
                // Trickle one byte every 100 ms, never a newline, until the server gives up.
                var (trickled, longestGap, last) = (0, Duration.zero, ContinuousClock.now)
                var reply: String?
                while reply == nil && trickled < 100 {
                    try client.send(bytes: [UInt8(ascii: "z")])
                    (longestGap, last) = (max(longestGap, .now - last), .now)
                    trickled += 1
                    reply = try? client.readLine(timeout: .milliseconds(100))
                }
                guard longestGap < .milliseconds(500) || attempt == 3 else { continue }
                #expect(
                    reply == "ERR idle timeout (0.5s)",
                    "after \(trickled) bytes, at most \(longestGap) apart")
                #expect(longestGap < .milliseconds(500), "attempt \(attempt) was held up too")
                #expect(client.isClosedByServer())
                return
            }
        }
    }

    /// Each line starts a new idle timeout: a client that sends a line every quarter second is
    /// served for as long as it keeps that up, far beyond one timeout after connecting.
    @Test(arguments: Stage.guarded)
    func theTimeoutStartsAgainWithEveryLine(stage: Stage) throws {
        try withServer(stage.name, ["--idle-timeout", "1"]) { server in
            // As above, an attempt in which this thread stood still for a whole timeout proves
            // nothing, and is made again.
            for attempt in 1...3 {
                let client = try TestClient(port: server.port)
                var (longestGap, last) = (Duration.zero, ContinuousClock.now)
                var replies: [String] = []
                for number in 1...12 {
                    usleep(250_000)  // Paces the lines; nothing waits for the server here.
                    (longestGap, last) = (max(longestGap, .now - last), .now)
                    guard (try? client.send("line \(number)")) != nil,
                        let reply = try? client.readLine()
                    else { break }
                    replies.append(reply)
                    if reply != "Received: line \(number)" { break }
                }
                guard longestGap < .seconds(1) || attempt == 3 else { continue }
                #expect(
                    replies == (1...12).map { "Received: line \($0)" },
                    "lines at most \(longestGap) apart")
                #expect(longestGap < .seconds(1), "attempt \(attempt) was held up too")
                return
            }
        }
    }

    @Test(arguments: Stage.guarded)
    func aClientThatNeverReadsIsCutOffAndOthersKeepGettingAcks(stage: Stage) throws {
        // The listening client waits for the deaf one to be cut off, however long the consumer
        // takes to fill the buffers on a busy machine: no idle timeout may end it first.
        try withServer(stage.name, ["--idle-timeout", "60"]) { server in
            let listener = try TestClient(port: server.port)
            try server.waitForLine { $0.hasPrefix("[client-0] connected") }
            let deaf = try TestClient(port: server.port, receiveBuffer: 4096)
            try server.waitForLine { $0.hasPrefix("[client-1] connected") }
            // Long lines, whose ACKs the deaf client never reads: they fill the server's send
            // buffer and the deaf client's receive buffer, and then the consumer is stuck.
            let line = String(repeating: "d", count: 4000)
            deaf.flood(line)
            // The server has stopped taking lines (stuck, or waiting for room in the queue);
            // the urgent line is next in line for the consumer.
            try listener.send("/urgent can you hear me")
            // Keeps sending until the consumer gives up on the deaf client: a pause in the
            // flood on a busy machine must not leave the buffers short of full.
            let deadline = ContinuousClock.now + defaultTimeout
            while !server.lines.contains("[client-1] send timed out") && .now < deadline {
                deaf.flood(line, limit: 1 << 20)
            }
            try expect(listener.readLine(), is: "Received: can you hear me")
            try server.waitForLine("[client-1] send timed out")
            try server.waitForLine("[client-1] disconnected")
            // And the consumer is free for good: the next line is answered too.
            try listener.send("and now")
            try expect(listener.readLine(), is: "Received: and now")
        }
    }

    @Test(arguments: Stage.guarded)
    func badValuesForTheNewOptionsExit64(stage: Stage) throws {
        for arguments in [
            ["--max-clients", "0"], ["--max-clients", "x"], ["--idle-timeout", "0"],
            ["--idle-timeout", "-2"], ["--work-delay", "soon"],
        ] {
            let run = try runToExit(stage.name, arguments)
            #expect(run.status == 64, "\(arguments): \(run.stderr)")
            #expect(run.stderr.hasPrefix("error: bad value"), "\(arguments): \(run.stderr)")
        }
    }
}
