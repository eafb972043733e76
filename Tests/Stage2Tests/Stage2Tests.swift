import TestSupport
import Testing

/// What Stage 2 adds: clients served at the same time, a registry, and broadcast.
@Suite(.enabled(if: Stage.stage2.isTested)) struct Stage2Tests {
    let stage = Stage.stage2

    /// Opens `count` clients and waits until every one is in the registry, so that a broadcast
    /// from now on reaches them all.
    ///
    /// The `connected` line comes just before the server registers a client, so it alone proves
    /// nothing for the last one. A line from the last client does: its thread starts only once
    /// it is registered. When everyone has heard that line, everyone is registered.
    func connect(_ count: Int, to server: ServerProcess) throws -> [TestClient] {
        var clients: [TestClient] = []
        var seen = 0
        for number in 0..<count {
            clients.append(try TestClient(port: server.port))
            seen = try server.waitForLine(after: seen) {
                $0.hasPrefix("[client-\(number)] connected from ")
            }.index
        }
        try clients[count - 1].send("all here")
        for client in clients {
            let heard = try client.readLine()
            guard heard == "[client-\(count - 1)] all here" else {
                throw TestFailure("expected the roll call from client-\(count - 1), got '\(heard)'")
            }
        }
        return clients
    }

    /// A sequential server would hang here: the last client to connect speaks first.
    @Test func clientsAreServedAtTheSameTimeInAnyOrder() throws {
        try withServer(stage.name) { server in
            let clients = try connect(4, to: server)
            for (number, client) in clients.enumerated().reversed() {
                try client.send("from \(number)")
                for other in clients {
                    try expect(other.readLine(), is: "[client-\(number)] from \(number)")
                }
            }
        }
    }

    @Test func everyLineReachesEveryClientExactlyOnce() throws {
        try withServer(stage.name) { server in
            let clients = try connect(3, to: server)
            for (number, client) in clients.enumerated() { try client.send("hi from \(number)") }
            let expected = Set((0..<3).map { "[client-\($0)] hi from \($0)" })
            for client in clients {
                try expect(Set(client.readLines(3)), is: expected)
            }
            // A marker sent after everything above must be the very next line everywhere:
            // nothing was delivered twice.
            try clients[0].send("marker")
            for client in clients {
                try expect(client.readLine(), is: "[client-0] marker")
                expect(client.unreadText, is: "")
            }
        }
    }

    @Test func departedClientsLeaveTheRegistryAndReleaseTheirSockets() throws {
        try withServer(stage.name) { server in
            let listener = try TestClient(port: server.port)
            var seen = try server.waitForLine { $0.hasPrefix("[client-0] connected") }.index
            let baseline = server.openDescriptorCount
            for number in 1...50 {
                let visitor = try TestClient(port: server.port)
                try visitor.send("visit \(number)")
                try expect(visitor.readLine(), is: "[client-\(number)] visit \(number)")
                visitor.close()
                seen = try server.waitForLine("[client-\(number)] disconnected", after: seen)
            }
            // Every visitor's socket is closed again: the registry held on to none of them.
            try server.waitUntil(
                "open descriptors", { server.openDescriptorCount }, equals: baseline)
            // The one who stayed got each visit once, and nothing from a departed client after.
            let visits = try listener.readLines(50)
            #expect(visits == (1...50).map { "[client-\($0)] visit \($0)" })
            try listener.send("bye")
            try expect(listener.readLine(), is: "[client-0] bye")
            #expect(!server.errorLines.contains { !$0.isEmpty }, "\(server.errorLines)")
        }
    }

    /// A client that sends and never reads fills its own buffers with the broadcasts of its
    /// lines, and its thread waits in `send` for good. That must hold up only the broadcasts to
    /// it: the registry stays free, so new clients are still accepted and departing ones removed.
    /// (Sending while holding the registry's lock would freeze both.)
    @Test func aClientThatNeverReadsDoesNotFreezeTheRegistry() throws {
        try withServer(stage.name) { server in
            let deaf = try TestClient(port: server.port, receiveBuffer: 4096)
            try server.waitForLine { $0.hasPrefix("[client-0] connected from ") }
            // Its lines come back to it; it reads none, so its thread ends up waiting in `send`.
            let deadline = ContinuousClock.now + defaultTimeout
            var sent = 0
            while !server.isWaitingToSend(to: deaf) {
                guard ContinuousClock.now < deadline else {
                    throw TestFailure(
                        "no thread is waiting to send to client-0 after \(sent) bytes; "
                            + "threads (name, state, system call and descriptor): \(server.threadStates)"
                    )
                }
                sent += deaf.flood(String(repeating: "d", count: 200), limit: 256 << 10)
            }
            // Joining needs the registry (its thread starts once it is added), and so does
            // leaving (it is removed before `disconnected` is logged).
            let visitor = try TestClient(port: server.port)
            try server.waitForLine { $0.hasPrefix("[client-1] connected from ") }
            visitor.close()
            try server.waitForLine("[client-1] disconnected")
            let next = try TestClient(port: server.port)
            try server.waitForLine { $0.hasPrefix("[client-2] connected from ") }
            next.close()
            try server.waitForLine("[client-2] disconnected")
        }
    }

    @Test func aHundredClientsAtOnce() throws {
        try withServer(stage.name) { server in
            let clients = try connect(100, to: server)
            for (number, client) in clients.enumerated() { try client.send("n\(number)") }
            let expected = Set((0..<100).map { "[client-\($0)] n\($0)" })
            for client in clients {
                try expect(Set(client.readLines(100)), is: expected)
            }
        }
    }
}
