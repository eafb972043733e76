import TestSupport
import Testing

/// What Stage 3 adds: a priority queue, one consumer, and an ACK to the sender. The later stages
/// keep all of it, so every test here runs against them too.
@Suite struct Stage3Tests {
    @Test(arguments: Stage.queueing)
    func eachLineGetsAnAckAndIsLoggedWithItsPriority(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            let client = try TestClient(port: server.port)
            let cases = [
                ("hello", "normal", "hello"), ("/urgent fire", "urgent", "fire"),
                ("/low later", "low", "later"), ("/urgentx", "normal", "/urgentx"),
            ]
            var seen = 0
            for (line, priority, text) in cases {
                try client.send(line)
                try expect(client.readLine(), is: "Received: \(text)")
                seen = try server.waitForLine("[client-0] [\(priority)] \(text)", after: seen)
            }
        }
    }

    @Test(arguments: Stage.queueing)
    func anUrgentLineOvertakesTheQueuedNormalOnes(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments + ["--work-delay", "0.2"]) { server in
            let client = try TestClient(port: server.port)
            // One write: all six are queued while the consumer works on the first.
            try client.send(bytes: Array("n1\nn2\nn3\nn4\nn5\n/urgent u\n".utf8))
            let acks = try client.readLines(6).map {
                $0.replacingOccurrences(of: "Received: ", with: "")
            }
            // The consumer may have taken n1 before u arrived, never anything later than n1.
            #expect(
                acks == ["n1", "u", "n2", "n3", "n4", "n5"]
                    || acks == ["u", "n1", "n2", "n3", "n4", "n5"])
            try server.waitForLine("[client-0] [urgent] u")
        }
    }

    @Test(arguments: Stage.queueing)
    func aHalfClosedClientStillGetsEveryAck(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments + ["--work-delay", "0.05"]) { server in
            let client = try TestClient(port: server.port)
            try client.send(bytes: Array("one\ntwo\nthree\n".utf8))
            client.shutdownWrite()
            // The server sees end of file long before the consumer is done with the three.
            try server.waitForLine("[client-0] disconnected")
            try expect(
                client.readUntilClosed(), is: ["Received: one", "Received: two", "Received: three"])
        }
    }

    /// Stage 3's client thread sends the ERR at once, before the consumer gets to the queued
    /// lines (Stage 4 makes it wait for them: see BackpressureTests).
    @Test(arguments: Stage.queueing.filter { $0.number == 3 })
    func aLineTooLongStillLetsTheQueuedAcksThrough(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments + ["--work-delay", "0.2"]) { server in
            let client = try TestClient(port: server.port)
            try client.send(
                bytes: Array("a\nb\n".utf8) + [UInt8](repeating: 120, count: 5000) + [10])
            // The ERR comes at once from the client's thread; the ACKs when the consumer gets to
            // them. The connection closes after the last of them.
            let received = try client.readUntilClosed()
            #expect(received.first == "ERR line too long (max 4096 bytes)", "\(received)")
            #expect(received.dropFirst() == ["Received: a", "Received: b"])
        }
    }

    /// The consumer sleeps on the queue's condition while there is nothing to do, and so does
    /// every other thread: with a client connected and its message handled, the server uses next
    /// to no CPU. A consumer that checks the queue over and over would use a whole core.
    @Test(arguments: Stage.queueing)
    func anIdleServerUsesNoCPUWithAClientConnected(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            let client = try TestClient(port: server.port)
            try client.send("one")
            try expect(client.readLine(), is: "Received: one")
            try server.checkIdle()
        }
    }

    @Test(arguments: Stage.queueing)
    func aClientThatVanishedCostsNothing(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments + ["--work-delay", "0.02"]) { server in
            let vanishing = try TestClient(port: server.port)
            try vanishing.send(bytes: Array(String(repeating: "gone\n", count: 20).utf8))
            vanishing.reset()
            let stayer = try TestClient(port: server.port)
            try stayer.send("still here")
            try expect(stayer.readLine(), is: "Received: still here")
        }
    }

    @Test(arguments: Stage.queueing)
    func fiftyClientsTimesAHundredMessagesEachAckExactlyOnce(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            let clients = try (0..<50).map { _ in try TestClient(port: server.port) }
            for (number, client) in clients.enumerated() {
                let lines = (0..<100).map { "c\(number)-m\($0)\n" }.joined()
                try client.send(bytes: Array(lines.utf8))
            }
            for (number, client) in clients.enumerated() {
                // All normal priority: each client's ACKs come back in the order it sent them.
                try expect(
                    client.readLines(100), is: (0..<100).map { "Received: c\(number)-m\($0)" })
            }
            // One more round trip each proves nothing extra was on its way.
            for client in clients {
                try client.send("end")
                try expect(client.readLine(), is: "Received: end")
                expect(client.unreadText, is: "")
            }
        }
    }

    @Test(arguments: Stage.queueing)
    func badWorkDelaysExit64(stage: Stage) throws {
        for value in ["-1", "soon", "nan", "inf"] {
            let run = try runToExit(stage.name, ["--work-delay", value])
            #expect(run.status == 64, "--work-delay \(value)")
            #expect(
                run.stderr.hasPrefix("error: bad value '\(value)' for --work-delay"),
                "\(run.stderr)")
        }
    }
}
