import Foundation
import Glibc
import TestSupport
import Testing

/// What Stage 6 adds: one thread owns every socket, sleeping in one readiness call, with a
/// buffer in and a buffer out for each client, and the slow work handed to another thread.
/// Stage 6 keeps every promise of Stage 5; those tests run against it with
/// `WORKBOOK_STAGE=5 WORKBOOK_SERVER=Stage6EventLoop` (see docs/07-event-loop.md).
@Suite(.enabled(if: Stage.stage6.isTested)) struct Stage6Tests {
    let name = Stage.stage6.name

    // MARK: Partial reads

    /// A line that arrives a byte at a time waits in the client's input buffer, and is answered
    /// once, when its newline comes; the loop serves another client meanwhile.
    @Test func aLineInManyPiecesIsOneLineAndOthersAreServedMeanwhile() throws {
        try withServer(name) { server in
            let slow = try TestClient(port: server.port)
            let other = try TestClient(port: server.port)
            for (index, byte) in "one line, many reads".utf8.enumerated() {
                try slow.send(bytes: [byte])
                // Between the pieces, the other client gets its answer at once.
                if index % 5 == 0 {
                    try other.send("meanwhile \(index)")
                    #expect(try other.readLine() == "Received: meanwhile \(index)")
                }
            }
            try slow.send(bytes: [UInt8(ascii: "\n")])
            #expect(try slow.readLine() == "Received: one line, many reads")
            // Nothing else was on its way: the next reply is the next line's.
            try slow.send("next")
            #expect(try slow.readLine() == "Received: next")
        }
    }

    /// A thousand lines in one write, some of them longer than a third of the read buffer, so
    /// that lines straddle the boundary between one `recv` and the next.
    @Test func manyLinesInOneWriteAreEachAnsweredInOrder() throws {
        try withServer(name) { server in
            let client = try TestClient(port: server.port)
            let lines = (0..<1000).map { number in
                "line \(number) " + String(repeating: "z", count: number % 7 == 0 ? 6000 : 10)
            }
            // Lines over the limit would be refused: keep them to 4096 bytes.
            let sent = lines.map { String($0.prefix(4096)) }
            // A second thread sends, so that neither side waits for the other to read.
            let sender = Thread { [descriptor = client.descriptor] in
                _ = sendEverything(Array(sent.map { $0 + "\n" }.joined().utf8), to: descriptor)
            }
            sender.start()
            let replies = try client.readLines(sent.count)
            let mismatch = zip(replies, sent).enumerated().first {
                $0.element.0 != "Received: \($0.element.1)"
            }
            #expect(mismatch == nil, "reply \(mismatch?.offset ?? -1) was not for its line")
        }
    }

    // MARK: Partial writes

    /// A client that sends without reading: the server's replies fill the kernel's buffers,
    /// `send` takes only part of a reply and then fails with EAGAIN, and the rest waits in the
    /// client's output buffer. Past a limit the server stops reading from it, so its sender
    /// stalls. Then it reads: every ACK arrives, whole and in order. Meanwhile another client
    /// is answered at once: the loop never waited for the slow one.
    @Test func aSlowReaderReceivesEveryAckInOrder() throws {
        try withServer(name) { server in
            let reader = try TestClient(port: server.port, receiveBuffer: 4096)
            let other = try TestClient(port: server.port)
            let text = String(repeating: "w", count: 3000)
            let total = 3000
            let progress = Counter()
            Thread { [descriptor = reader.descriptor] in
                for number in 0..<total {
                    guard sendEverything(Array("\(number) \(text)\n".utf8), to: descriptor)
                    else { return }
                    progress.set(number + 1)
                }
            }.start()
            // Wait until the sender has made no progress for 200 ms: the server has stopped
            // reading. (Well under the 1 s send timeout, after which it would cut us off.)
            var (last, since) = (-1, ContinuousClock.now)
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline && progress.value < total {
                if progress.value != last { (last, since) = (progress.value, .now) }
                if ContinuousClock.now - since > .milliseconds(200) { break }
                usleep(5_000)
            }
            #expect(progress.value < total, "the server read all \(total) lines without stalling")
            try other.send("not blocked")
            #expect(try other.readLine() == "Received: not blocked")
            for number in 0..<total {
                let reply = try reader.readLine()
                guard reply == "Received: \(number) \(text)" else {
                    Issue.record("ACK \(number) of \(total) was '\(reply.prefix(40))...'")
                    return
                }
            }
            #expect(!server.lines.contains("[client-0] send timed out"))
        }
    }

    // MARK: The readiness loop

    /// Waiting in `epoll_wait` with nothing due, the server is not woken at all.
    @Test func anIdleServerUsesNoCPU() throws {
        try withServer(name) { server in
            // One client comes and goes first, so the loop has been through every path once.
            let client = try TestClient(port: server.port)
            try client.send("hello")
            #expect(try client.readLine() == "Received: hello")
            client.close()
            try server.waitForLine("[client-0] disconnected")
            let before = try cpuTicks(of: server.pid)
            let window = ContinuousClock.now + .seconds(2)
            // Observe the server over a fixed window; nothing here waits for it to do anything.
            while ContinuousClock.now < window { usleep(100_000) }
            let used = try cpuTicks(of: server.pid) - before
            #expect(used <= 2, "an idle server used \(used) ticks (1/100 s each) in 2 s")
        }
    }

    /// One thread does all the I/O and one does the work, however many clients come and go.
    @Test func theThreadCountStaysTheSameAsClientsComeAndGo() throws {
        try withServer(name, ["--max-clients", "200"]) { server in
            // The main thread runs the loop; the consumer names itself once it has started. (A
            // sanitizer may add a thread of its own, so the count is compared with itself.)
            try server.waitUntil(
                "a consumer thread", { server.threadNames.filter { $0 == "consumer" }.count },
                equals: 1)
            #expect(
                server.threadNames.filter { $0.hasPrefix("client") }.isEmpty,
                "\(server.threadNames)")
            let baseline = server.threadCount
            var clients: [TestClient] = []
            for number in 0..<100 {
                let client = try TestClient(port: server.port)
                try client.send("client \(number)")
                clients.append(client)
            }
            for (number, client) in clients.enumerated() {
                let reply = try client.readLine()
                try #require(reply == "Received: client \(number)")
            }
            #expect(server.threadCount == baseline)
            clients.removeAll()
            try server.waitForLine("[client-99] disconnected")
            #expect(server.threadCount == baseline)
        }
    }

    /// The loop reads the clock once per event, not once per turn: after a long sleep, a turn
    /// that timed a new client's first line from the clock read before the sleep would find it
    /// idle for longer than the timeout, and cut it off at once.
    @Test func aClientArrivingAfterALongIdleIsNotTimedOutAtOnce() throws {
        try withServer(name, ["--idle-timeout", "0.5"]) { server in
            // The loop has no deadline at all now, and sleeps; let more than the timeout pass.
            let quietUntil = ContinuousClock.now + .seconds(1)
            while ContinuousClock.now < quietUntil { usleep(50_000) }
            let client = try TestClient(port: server.port)
            try client.send("just arrived")
            let reply = try client.readLine()
            #expect(reply == "Received: just arrived")
        }
    }

    // MARK: Offloaded work

    /// With slow work, the consumer is busy for two seconds per message. While it works on one
    /// client's message, a second client connects and is refused a line too long: both at once,
    /// because the loop that does it never waits for the work.
    @Test func slowWorkNeverDelaysAnotherClientsConnectOrError() throws {
        try withServer(name, ["--work-delay", "2"]) { server in
            let busy = try TestClient(port: server.port)
            try busy.send(bytes: Array("first\nsecond\n".utf8))
            #expect(try busy.readLine(timeout: .seconds(15)) == "Received: first")
            // The consumer took `second` at once, and works on it for the next two seconds.
            let start = ContinuousClock.now
            let other = try TestClient(port: server.port)
            try server.waitForLine { $0.hasPrefix("[client-1] connected from ") }
            try other.send(String(repeating: "x", count: 5000))
            #expect(try other.readLine() == "ERR line too long (max 4096 bytes)")
            let took = ContinuousClock.now - start
            #expect(took < .seconds(1), "connect and ERR took \(took) while the work ran")
            // And the work really was still running then.
            #expect(!busy.hasPendingData, "the work finished before the other client was done")
            #expect(try busy.readLine(timeout: .seconds(15)) == "Received: second")
        }
    }
}

/// CPU time a process has used, in clock ticks (1/100 s), from `/proc/PID/stat`.
private func cpuTicks(of pid: Int32) throws -> Int {
    let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
    guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else {
        throw TestFailure("cannot read utime and stime in /proc/\(pid)/stat: \(stat)")
    }
    return user + system
}

/// A number one thread sets and another reads.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var current = 0

    var value: Int { lock.withLock { current } }
    func set(_ value: Int) { lock.withLock { current = value } }
}
