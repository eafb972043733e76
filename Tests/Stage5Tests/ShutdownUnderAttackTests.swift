import Foundation
import Glibc
import Net
import TestSupport
import Testing

/// Stage 5's shutdown against clients that do not make it easy: one still sending when the signal
/// comes, several that never read, and some still waiting in the backlog.
@Suite struct ShutdownUnderAttackTests {
    let stage = Stage.stage5

    /// A client that keeps sending while it reads its ACKs at a modest pace. Closing its socket
    /// while its lines still arrive would make the kernel send a reset, and the ACKs and the `Quit`
    /// not yet delivered would be destroyed. The server instead keeps reading (and dropping) its
    /// lines until the client, having read `Quit`, closes.
    @Test func aClientStillSendingAtTheSignalGetsEveryAckThenQuitWithoutAReset() throws {
        try withServer(stage.name, ["--shutdown-timeout", "60"]) { server in
            let client = try TestClient(port: server.port)
            let sawQuit = Locked(false)
            let senderDone = DispatchSemaphore(value: 0)
            Thread { [descriptor = client.descriptor] in
                var number = 0
                while !sawQuit.withLock({ $0 }) {
                    let lines = (number..<number + 100).map { "line \($0)\n" }.joined()
                    number += 100
                    guard sendEverything(Array(lines.utf8), to: descriptor) else { break }
                }
                senderDone.signal()
            }.start()

            try server.waitForLine("[client-0] [normal] line 1000")
            server.signal(SIGINT)
            // 4 KiB every 10 ms: slower than the server answers, so its ACKs queue up in the
            // kernel's buffers on both sides, and are still there when the signal comes.
            var received: [UInt8] = []
            var failure: Int32 = 0
            var chunk = [UInt8](repeating: 0, count: 4096)
            let end = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < end {
                let count = recv(client.descriptor, &chunk, chunk.count, 0)
                if count < 0 && errno == EINTR { continue }
                if count < 0 { failure = errno }
                if count <= 0 { break }
                received += chunk[..<count]
                if received.suffix(5) == Array("Quit\n".utf8) { sawQuit.withLock { $0 = true } }
                usleep(10_000)
            }
            sawQuit.withLock { $0 = true }
            client.shutdownWrite()
            #expect(senderDone.wait(timeout: .now() + 10) == .success)

            #expect(try server.waitForExit(timeout: .seconds(70)) == 0)
            let lines = String(decoding: received, as: UTF8.self).split(separator: "\n")
            #expect(failure == 0, "reading ended with \(String(cString: strerror(failure)))")
            #expect(lines.last == "Quit", "the last lines received: \(lines.suffix(3))")
            let acks = lines.filter { $0.hasPrefix("Received: ") }.count
            try server.waitForLine(
                "shutdown complete: 1 clients served, \(acks) messages processed")
        }
    }

    /// Ten clients that sent as much as the server would take and read nothing. Each one's ACKs
    /// can wait a whole send timeout; one after another that would keep the server up for many
    /// seconds, with the listener already closed. The shutdown has one deadline for everyone.
    @Test func clientsThatNeverReadCannotHoldTheShutdownOpenPastItsDeadline() throws {
        try withServer(stage.name, ["--max-clients", "20", "--shutdown-timeout", "1"]) { server in
            var clients: [TestClient] = []
            for number in 0..<10 {
                let client = try TestClient(port: server.port, receiveBuffer: 4096)
                client.flood("never read \(number)", limit: 8 << 20)
                clients.append(client)
            }
            // The consumer has begun on their lines: ACKs are owed to clients that do not read.
            try server.waitForLine("[client-0] [normal] never read 0")
            let signalled = ContinuousClock.now
            server.signal(SIGTERM)
            #expect(try server.waitForExit(timeout: .seconds(60)) == 0)
            let took = ContinuousClock.now - signalled
            // The deadline is 1 s; cutting everyone off after it takes a moment more.
            #expect(took < .seconds(6), "the shutdown took \(took)")
            try server.waitForLine { $0.hasPrefix("shutdown timeout: cutting off ") }
            clients.removeAll()
        }
    }

    /// A client whose lines take longer to handle than its idle timeout, when the signal comes:
    /// it is waiting for ACKs it is owed, and gets them and `Quit`, not `ERR idle timeout`.
    @Test func aClientWaitingForItsAcksAtTheSignalIsNotTimedOutAsIdle() throws {
        // Six lines of a second's work each; the idle timeout (4 s) falls in the middle of them,
        // three seconds after the signal, which comes once the first is handled.
        try withServer(
            stage.name, ["--work-delay", "1", "--idle-timeout", "4", "--shutdown-timeout", "30"]
        ) { server in
            let client = try TestClient(port: server.port)
            try client.send(bytes: Array("a\nb\nc\nd\ne\nf\n".utf8))
            try server.waitForLine("[client-0] [normal] a")
            server.signal(SIGINT)
            try server.waitForLine("shutting down")
            let expected = ["a", "b", "c", "d", "e", "f"].map { "Received: \($0)" } + ["Quit"]
            #expect(try client.readUntilClosed(timeout: .seconds(20)) == expected)
            #expect(try server.waitForExit() == 0)
            #expect(!server.lines.contains("[client-0] idle timeout"), "\(server.lines)")
        }
    }

    /// Clients whose handshake the kernel finished while the server was not looking (here: it is
    /// stopped with SIGSTOP) wait in the backlog. Closing the listener would reset them; the
    /// server accepts them first, and they hear `Quit` like everyone else. The queue closed at
    /// the signal, so what they sent before it is dropped unanswered.
    @Test func clientsWaitingInTheBacklogAtTheSignalGetQuitNotAReset() throws {
        try withServer(stage.name, ["--max-clients", "10"]) { server in
            let first = try TestClient(port: server.port)
            try first.send("hello")
            #expect(try first.readLine() == "Received: hello")
            try server.suspend()
            // `connect` returns once the kernel has finished the handshake; the stopped server has
            // not accepted them.
            let waiting = try (0..<3).map { _ in try TestClient(port: server.port) }
            // Lines sent before the signal but not read by then are dropped, every time alike.
            for client in waiting { try client.send("sent from the backlog") }
            // To the main thread: sent to the process, the signal may be taken by another thread
            // on SIGCONT while the main thread's `poll` already reports the backlog, and the
            // order between the two is the scheduler's.
            server.signalMainThread(SIGINT)
            server.signal(SIGCONT)
            #expect(try first.readUntilClosed() == ["Quit"])
            for client in waiting {
                #expect(try client.readUntilClosed() == ["Quit"])
            }
            #expect(try server.waitForExit() == 0)
            try server.waitForLine("shutdown complete: 4 clients served, 1 messages processed")
        }
    }
}
