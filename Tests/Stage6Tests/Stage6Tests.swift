import TestSupport
import Testing

/// What Stage 6 adds: one thread, one epoll, every connection.
@Suite struct Stage6Tests {
    @Test func answersALine() throws {
        try withServer("Stage6EventLoop") { server in
            let client = try TestClient(port: server.port)
            try client.send("hello")
            #expect(try client.readLine() == "Received: hello")
        }
    }
}
