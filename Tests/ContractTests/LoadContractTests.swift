import TestSupport
import Testing

/// Many clients, and many clients over time, for every stage: all are served, and nothing is
/// left behind once they have gone.
@Suite struct LoadContractTests {
    /// Reads lines until one contains `token`; other clients' broadcasts (Stage 2) may come first.
    func readReply(containing token: String, from client: TestClient) throws -> String {
        while true {
            let line = try client.readLine()
            if line.contains(token) { return line }
        }
    }

    @Test(arguments: Stage.all)
    func twoHundredSimultaneousConnectsAreAllServed(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            let clients = try (0..<200).map { _ in try TestClient(port: server.port) }
            for (number, client) in clients.enumerated() { try client.send("c\(number)!") }
            // In connection order, so that Stage 1, which serves one at a time, gets through too.
            for (number, client) in clients.enumerated() {
                let reply = try readReply(containing: "c\(number)!", from: client)
                #expect(reply.hasSuffix("c\(number)!"), "\(reply)")
                client.close()
            }
            // Every one of them gone, so that a connection limit has room for one more.
            for number in 0..<200 { try server.waitForLine("[client-\(number)] disconnected") }
            try server.checkStillServing(stage, asClient: 200)
        }
    }

    @Test(arguments: Stage.all)
    func fiveHundredConnectCloseCyclesLeaveNoDescriptorOrThreadBehind(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            // Threads: after one full visit, so that a thread made for good when the first client
            // came (a sanitizer's own, say) is part of the baseline; the visit's own has ended,
            // and is no longer listed either.
            let first = try TestClient(port: server.port)
            try first.send("one full visit")
            try expect(first.readLine(), is: stage.reply(to: "one full visit", from: 0))
            first.close()
            try server.waitForLine("[client-0] disconnected")
            let threads = try server.waitForIdleThreads()
            // Descriptors: the listening socket, the standard streams, whatever the server keeps
            // for itself, and nothing of the visit's.
            let descriptors = server.openDescriptorCount

            for _ in 1...500 {
                try TestClient(port: server.port).close()
            }
            try server.waitForLine("[client-500] disconnected")
            try server.waitForIdleThreads()
            // At most as many as before: the baselines have been seen to hold one thread, or one
            // descriptor, that was gone a moment later (on a busy machine, under a sanitizer).
            try server.waitUntil(
                "open descriptors", { server.openDescriptorCount }, is: "at most \(descriptors)"
            ) { $0 <= descriptors }
            try server.waitUntil(
                "threads", { server.threadNames.sorted() }, is: "at most \(threads)"
            ) { $0.count <= threads.count }

            try server.checkStillServing(stage, asClient: 501)
        }
    }
}
