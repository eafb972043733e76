import TestSupport
import Testing

/// What is particular to Stage 1: one client at a time.
@Suite(.enabled(if: Stage.stage1.isTested)) struct Stage1Tests {
    let stage = Stage.stage1

    @Test func eachLineIsEchoedBackAndLogged() throws {
        try withServer(stage.name) { server in
            let client = try TestClient(port: server.port)
            for text in ["hello", "hello again", "  spaces kept  "] {
                try client.send(text)
                try expect(client.readLine(), is: text)
                try server.waitForLine("[client-0] \(text)")
            }
        }
    }

    @Test func aSecondClientIsConnectedButIgnoredUntilTheFirstLeaves() throws {
        try withServer(stage.name) { server in
            let first = try TestClient(port: server.port)
            try first.send("first")
            try expect(first.readLine(), is: "first")

            // The kernel completes the second handshake from its backlog: connect succeeds and
            // the line is accepted into the socket buffer, yet the server is busy with `first`.
            let second = try TestClient(port: server.port)
            try second.send("second")
            // Another round trip with `first` proves the server was free to act meanwhile.
            try first.send("still first")
            try expect(first.readLine(), is: "still first")
            expect(second.unreadText, is: "")
            #expect(!server.lines.contains { $0.hasPrefix("[client-1]") }, "\(server.lines)")

            first.close()
            try expect(second.readLine(), is: "second")
            // The log proves the order: client-1 was accepted only after client-0 left.
            let left = try server.waitForLine("[client-0] disconnected")
            try server.waitForLine(after: left) { $0.hasPrefix("[client-1] connected from ") }
        }
    }
}
