import Foundation
import Glibc
import Net
import TestSupport
import Testing

/// What Stage 5 adds: SIGINT and SIGTERM start a graceful shutdown.
@Suite(.enabled(if: Stage.stage5.isTested)) struct Stage5Tests {
    let stage = Stage.stage5

    @Test(arguments: [SIGINT, SIGTERM])
    func everyLineReadBeforeTheSignalIsAckedThenQuitThenExitZero(signal: Int32) throws {
        try withServer(stage.name, ["--work-delay", "0.1"]) { server in
            let client = try TestClient(port: server.port)
            try client.send(bytes: Array("l1\nl2\nl3\nl4\nl5\n".utf8))
            // Once the first is handled, all five were read: they came in one segment.
            try server.waitForLine("[client-0] [normal] l1")
            server.signal(signal)
            let expected = (1...5).map { "Received: l\($0)" } + ["Quit"]
            try expect(client.readUntilClosed(), is: expected)
            try expect(server.waitForExit(), is: 0)
            let shuttingDown = try server.waitForLine("shutting down")
            try server.waitForLine(
                "shutdown complete: 1 clients served, 5 messages processed", after: shuttingDown)
        }
    }

    /// A client that never stops sending, and reads its ACKs as they come: there is always
    /// another line waiting for the server to read. The server still stops taking its lines,
    /// finishes what it took, says `Quit`, and exits.
    @Test func aClientThatKeepsSendingCannotHoldTheShutdownOpen() throws {
        try withServer(stage.name) { server in
            let flooder = try TestClient(port: server.port)
            let descriptor = flooder.descriptor
            let readerDone = DispatchSemaphore(value: 0)
            let sawQuit = Locked(false)
            // Reads ACKs until the server closes, so the consumer is never kept waiting.
            Thread {
                var received: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 65536)
                while case let count = recv(descriptor, &chunk, chunk.count, 0), count > 0 {
                    received.append(contentsOf: chunk[..<count])
                }
                sawQuit.withLock {
                    $0 = String(decoding: received, as: UTF8.self).hasSuffix("Quit\n")
                }
                readerDone.signal()
            }.start()
            // Sends from here until the server hangs up, for fifteen seconds at the most.
            let lines = Array(String(repeating: "more\n", count: 10_000).utf8)
            let end = ContinuousClock.now + .seconds(15)
            var signalled = false
            while ContinuousClock.now < end, (try? flooder.send(bytes: lines)) != nil {
                if !signalled, server.lines.contains("[client-0] [normal] more") {
                    server.signal(SIGINT)
                    signalled = true
                }
            }
            #expect(signalled)
            try expect(server.waitForExit(), is: 0)
            #expect(readerDone.wait(timeout: .now() + 10) == .success)
            // Its last line is `Quit`, unless the machine was so busy that the reader fell a whole
            // second behind and the server cut it off as a client that does not read.
            let cutOff = server.lines.contains("[client-0] send timed out")
            #expect(sawQuit.withLock { $0 } || cutOff)
        }
    }

    @Test func newConnectionsAreRefusedOnceShuttingDown() throws {
        try withServer(stage.name, ["--work-delay", "0.3"]) { server in
            let client = try TestClient(port: server.port)
            try client.send(bytes: Array("a\nb\nc\n".utf8))
            try server.waitForLine("[client-0] [normal] a")
            server.signal(SIGINT)
            try server.waitForLine("shutting down")
            #expect(throws: TestFailure.self) { try TestClient(port: server.port) }
            try expect(
                client.readUntilClosed(), is: ["Received: a", "Received: b", "Received: c", "Quit"])
            try expect(server.waitForExit(), is: 0)
        }
    }

    @Test func turnedAwayClientsAreNotCountedAsServed() throws {
        try withServer(stage.name, ["--max-clients", "1"]) { server in
            let served = try TestClient(port: server.port)
            try server.waitForLine { $0.hasPrefix("[client-0] connected") }
            let turnedAway = try TestClient(port: server.port)
            try expect(turnedAway.readUntilClosed(), is: ["ERR server full (max 1 clients)"])
            server.signal(SIGTERM)
            try expect(served.readUntilClosed(), is: ["Quit"])
            try expect(server.waitForExit(), is: 0)
            try server.waitForLine("shutdown complete: 1 clients served, 0 messages processed")
        }
    }

    @Test func aSecondSignalKillsAtOnceByThatSignal() throws {
        try withServer(stage.name, ["--work-delay", "5"]) { server in
            let client = try TestClient(port: server.port)
            try client.send(bytes: Array("slow\nwork\nahead\n".utf8))
            try server.waitForLine { $0.hasPrefix("[client-0] connected") }
            // All three lines read (and so queued) before the first signal, not discarded.
            try server.waitUntilRead(from: client)
            server.signal(SIGINT)
            try server.waitForLine("shutting down")
            server.signal(SIGINT)
            // Three messages of five seconds each were still queued: this is not their end.
            try expect(server.waitForDeathBySignal(), is: SIGINT)
            #expect(!server.lines.contains { $0.hasPrefix("shutdown complete") }, "\(server.lines)")
        }
    }

    @Test func aHundredIdleClientsAllGetQuitAndThePortIsFreeAtOnce() throws {
        let port = try withServer(stage.name, ["--max-clients", "100"]) { server in
            var clients: [TestClient] = []
            var seen = 0
            for number in 0..<100 {
                clients.append(try TestClient(port: server.port))
                seen = try server.waitForLine(after: seen) {
                    $0.hasPrefix("[client-\(number)] connected")
                }.index
            }
            server.signal(SIGINT)
            for client in clients {
                try expect(client.readUntilClosed(), is: ["Quit"])
            }
            try expect(server.waitForExit(), is: 0)
            try server.waitForLine("shutdown complete: 100 clients served, 0 messages processed")
            return server.port
        }
        // The same port, straight away: nothing of the old server holds it.
        try withServer(stage.name, ["--port", "\(port)"]) { again in
            #expect(again.port == port)
        }
    }
}
