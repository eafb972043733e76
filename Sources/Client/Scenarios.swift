import Foundation
import Glibc
import Net

/// Something done to every stage, and the numbers read off it: one or more rows of the table.
struct Scenario {
    /// The rows' labels, in the order `measure` returns their cells.
    let rows: [String]
    /// Runs the scenario against one stage. A `nil` cell, printed `n/a`, means the stage cannot
    /// do what the row asks (Stages 1 and 2 have no priorities), or there was nothing to measure
    /// (no slowest first reply when some client never got one); every other cell is a number
    /// measured just now.
    let measure: (StageColumn) throws -> [String?]

    /// Every scenario, in the order of the table, each showing why a later stage exists.
    static func all(_ settings: MeasureSettings) -> [Scenario] {
        [
            oneClient(settings),
            clientsAtOnce(settings),
            manyClients(settings),
            manyIdleClients(settings),
            turnedAway(settings),
            idleClient(settings),
            clientThatNeverReads(settings),
            floodingClient(settings),
            urgentOvertakes(settings),
            idleCPU(settings),
            interruptWithMessagesInFlight(settings),
        ]
    }

    /// The baseline: one client, one message at a time, as fast as the server answers.
    static func oneClient(_ settings: MeasureSettings) -> Scenario {
        loadRows(
            "1 client, \(settings.oneClientMessages) messages", settings, clients: 1,
            messages: settings.oneClientMessages)
    }

    /// Ten clients at once. Stage 1 serves them one after another: the total rate hardly
    /// changes, but the last client waits for all the others before its first reply.
    static func clientsAtOnce(_ settings: MeasureSettings) -> Scenario {
        let messages = settings.tenClientsMessages
        return loadRows(
            "10 clients at once, \(messages) messages each", settings, clients: 10,
            messages: messages, slowestFirstReply: "10 clients at once: slowest first reply, ms")
    }

    /// Many clients at once: Stage 2's broadcast sends every line to every client.
    static func manyClients(_ settings: MeasureSettings) -> Scenario {
        let (clients, messages) = (settings.manyClients, settings.manyClientsMessages)
        return loadRows(
            "\(clients) clients at once, \(messages) messages each", settings, clients: clients,
            messages: messages)
    }

    /// The pattern of the three rows above: one `Client load` run, its rate, and, when
    /// `slowestFirstReply` labels a second row, the wait of the last client to be served.
    private static func loadRows(
        _ label: String, _ settings: MeasureSettings, clients: Int, messages: Int,
        slowestFirstReply: String? = nil
    ) -> Scenario {
        Scenario(rows: ["\(label): messages/s"] + (slowestFirstReply.map { [$0] } ?? [])) { stage in
            let result = try stage.withServer { server in
                runLoad(loadOptions(server, clients: clients, messages: messages, settings))
            }
            let rate = String(Int(result.messagesPerSecond.rounded()))
            guard slowestFirstReply != nil else { return [rate] }
            return [rate, result.slowestFirstReply.map { String(format: "%.1f", $0 * 1000) }]
        }
    }

    /// What many clients cost while they do nothing: from Stage 2 on, a thread each, with its
    /// stack. Stage 1 accepts one and leaves the rest waiting in the kernel's backlog.
    static func manyIdleClients(_ settings: MeasureSettings) -> Scenario {
        let count = settings.manyClients
        return Scenario(rows: [
            "\(count) idle clients connected: server threads",
            "\(count) idle clients connected: server resident memory, MiB",
        ]) { stage in
            try stage.withServer { server in
                var clients: [Connection] = []
                for _ in 0..<count { clients.append(try Connection.connect(to: server.address)) }
                let lastAccepted = stage.acceptsOneAtATime ? 0 : count - 1
                try server.waitForClient(lastAccepted, until: .now + .seconds(5))
                let threads = try server.settledThreadCount()
                let kilobytes = try server.status("VmRSS")
                withExtendedLifetime(clients) {}
                return [String(threads), String(format: "%.1f", Double(kilobytes) / 1024)]
            }
        }
    }

    /// Ten clients against the stage's default options. Stages 1 to 3 take everyone who comes;
    /// Stages 4 and 5 serve `--max-clients` (3) and send the rest `ERR server full`.
    static func turnedAway(_ settings: MeasureSettings) -> Scenario {
        Scenario(rows: ["10 clients, default options: connections turned away"]) { stage in
            let result = try stage.withServer(defaultLimit: true) { server in
                runLoad(loadOptions(server, clients: 10, messages: 10, settings))
            }
            return [String(result.connectionErrors)]
        }
    }

    /// A client connects first and says nothing. Stage 1 serves it, and nobody else.
    static func idleClient(_ settings: MeasureSettings) -> Scenario {
        othersWhile(
            "idle client connected first", settings, deadline: settings.idleClientDeadline
        ) { _ in }
    }

    /// A client sends a flood and reads none of the replies. Whoever sends to it blocks once
    /// its buffers are full: Stage 1's only thread, Stage 2's broadcasting threads, Stage 3's
    /// consumer. Stages 4 and 5 give up on it after their one-second send timeout.
    static func clientThatNeverReads(_ settings: MeasureSettings) -> Scenario {
        othersWhile(
            "client that never reads", settings, deadline: settings.neverReadsDeadline,
            receiveBuffer: 4096
        ) { deaf in
            flood(
                deaf, bytes: settings.floodBytes, until: .now + .seconds(60), readingReplies: false)
        }
    }

    /// The pattern of the two rows above: a first client occupies the server (`occupy` does to
    /// it whatever the row is about), then `settings.talkers` other clients each send a line, and
    /// the row counts those answered within `deadline` seconds.
    private static func othersWhile(
        _ label: String, _ settings: MeasureSettings, deadline: Double,
        receiveBuffer: Int32? = nil, occupy: @escaping (Connection) -> Void
    ) -> Scenario {
        let talkers = settings.talkers
        return Scenario(rows: [
            "\(label): of \(talkers) others, answered within \(formatSeconds(deadline)) s"
        ]) { stage in
            try stage.withFirstClient(receiveBuffer: receiveBuffer) { server, first in
                occupy(first)
                return [String(talk(talkers, to: server, within: deadline))]
            }
        }
    }

    /// A client sends 4000-byte lines as fast as the server takes them and reads every reply,
    /// for a few seconds; meanwhile another client sends a short line every 0.1 s and waits for
    /// its reply each time. Stage 3's reader threads queue lines faster than its one consumer
    /// answers them, and its queue has no bound: its memory grows for as long as the flood
    /// lasts, and the other client's line waits behind all of it. A bounded queue (backpressure)
    /// keeps both small.
    static func floodingClient(_ settings: MeasureSettings) -> Scenario {
        let seconds = settings.floodSeconds
        return Scenario(rows: [
            "1 client flooding 4000-byte lines for \(formatSeconds(seconds)) s, reading every "
                + "reply: server resident memory, MiB",
            "meanwhile, another client's line every 0.1 s: slowest reply, ms",
        ]) { stage in
            try stage.withFirstClient { server, flooder in
                let prober = try Connection.connect(to: server.address)
                if !stage.acceptsOneAtATime {
                    try server.waitForClient(1, until: .now + .seconds(5))
                }
                let floodEnd = ContinuousClock.now + .seconds(seconds)
                // A reply later than this counts as none: the flood is over by then.
                let probe = Probe(prober, until: floodEnd, lastReplyBy: floodEnd + .seconds(1))
                flood(
                    flooder, bytes: settings.floodReadingBytes, until: floodEnd,
                    readingReplies: true)
                let kilobytes = try server.status("VmRSS")
                let slowest = probe.slowestReply()
                return [
                    String(format: "%.1f", Double(kilobytes) / 1024),
                    slowest.map { String(format: "%.1f", $0 * 1000) },
                ]
            }
        }
    }

    /// Normal lines, then one `/urgent` line, all in one go, while the consumer takes
    /// `--work-delay` over each. The row is the urgent ACK's place among all the ACKs: 2 means
    /// it overtook every normal line but the one already being worked on.
    static func urgentOvertakes(_ settings: MeasureSettings) -> Scenario {
        let (lines, delay) = (settings.burst, settings.workDelay)
        return Scenario(rows: [
            "\(lines) lines then 1 `/urgent`, --work-delay \(formatSeconds(delay)): "
                + "position of the urgent ACK"
        ]) { stage in
            guard stage.queuesMessages else { return [nil] }
            return try stage.withServer(["--work-delay", formatSeconds(delay)]) { server in
                let client = try Connection.connect(to: server.address)
                let normal = (1...lines).map { "normal-\($0)\n" }.joined()
                try client.sendAll(Array((normal + "/urgent urgent-line\n").utf8))
                var replies = ServerLines(client)
                let deadline = ContinuousClock.now + .seconds(5 + delay * Double(lines + 1))
                var acks = 0
                while let line = try replies.nextText(until: deadline) {
                    guard line.hasPrefix("Received: ") else { continue }
                    acks += 1
                    if line == "Received: urgent-line" { return [String(acks)] }
                }
                throw MeasureError("the connection closed before the urgent line's ACK")
            }
        }
    }

    /// One client connected and silent, and the server left alone: how much CPU does it use
    /// doing nothing? A loop around a non-blocking call that never sleeps would use a whole core.
    static func idleCPU(_ settings: MeasureSettings) -> Scenario {
        let window = settings.idleWindow
        return Scenario(rows: [
            "idle CPU over \(formatSeconds(window)) s, 1 client connected: % of a core"
        ]) { stage in
            try stage.withFirstClient { server, _ in
                let (before, start) = (try server.cpuSeconds(), ContinuousClock.now)
                // Not a wait for anything: the window over which the CPU time is measured.
                Thread.sleep(forTimeInterval: window)
                let used = try server.cpuSeconds() - before
                let elapsed = (ContinuousClock.now - start).seconds
                return [String(format: "%.1f", used / elapsed * 100)]
            }
        }
    }

    /// A burst of lines, read by the server at once (one small segment, one `recv`), then
    /// SIGINT as soon as the first reply is back. Every line was accepted; the row counts the
    /// ones whose reply never came. Stages 1 and 2 answer as they read, so little is in flight;
    /// Stages 3 and 4 die with their queue; Stage 5 finishes it before it exits.
    static func interruptWithMessagesInFlight(_ settings: MeasureSettings) -> Scenario {
        let (lines, delay) = (settings.burst, settings.workDelay)
        return Scenario(rows: [
            "SIGINT after the first of \(lines) replies (--work-delay \(formatSeconds(delay)) "
                + "from Stage 3): accepted lines never answered"
        ]) { stage in
            let arguments = stage.queuesMessages ? ["--work-delay", formatSeconds(delay)] : []
            return try stage.withServer(arguments) { server in
                let client = try Connection.connect(to: server.address)
                try client.sendAll(Array((1...lines).map { "inflight-\($0)\n" }.joined().utf8))
                var replies = ServerLines(client)
                let deadline = ContinuousClock.now + .seconds(5 + delay * Double(lines))
                guard let first = try replies.nextText(until: deadline), first.contains("inflight-")
                else { throw MeasureError("no reply to the first line") }
                server.signal(SIGINT)
                var answered = 1
                // Until the server closes the connection, or resets it, or the deadline passes.
                while let line = try? replies.nextText(until: deadline) {
                    if line.contains("inflight-") { answered += 1 }
                }
                // Stage 5 exits by itself once its queue is empty; the others die of the signal.
                _ = server.waitForExit(timeout: 5)
                return [String(lines - answered)]
            }
        }
    }
}

private func loadOptions(
    _ server: StageServer, clients: Int, messages: Int, _ settings: MeasureSettings
) -> LoadOptions {
    LoadOptions(
        server: server.address, clients: clients, messages: messages, prefix: "",
        timeout: settings.loadTimeout)
}

/// Connects `count` clients that each send one line, and counts those whose reply (the line
/// itself, its broadcast, or its ACK) arrives within `seconds`.
private func talk(_ count: Int, to server: StageServer, within seconds: Double) -> Int {
    var talkers: [(lines: ServerLines, token: String)] = []
    for number in 1...count {
        guard let connection = try? Connection.connect(to: server.address) else { continue }
        let token = "talker-\(number)"
        guard (try? connection.sendLine(token)) != nil else { continue }
        talkers.append((ServerLines(connection), token))
    }
    let deadline = ContinuousClock.now + .seconds(seconds)
    var answered = 0
    for index in talkers.indices {
        // `nil` at the deadline, at end of file, or on a reset: no reply, either way.
        while let line = try? talkers[index].lines.nextText(until: deadline) {
            if line.contains(talkers[index].token) {
                answered += 1
                break
            }
        }
    }
    return answered
}

/// Sends 4000-byte lines on `connection` as fast as the server takes them, until `limit` bytes
/// are sent, `deadline` passes, or the server takes nothing for a second. With `readingReplies`,
/// whatever the server sends back meanwhile is read and thrown away, as a client that reads its
/// ACKs does; without, nothing is read, and the server's buffers and this client's fill up.
/// (A pause shorter than a second can be a busy machine's scheduler, and a flood cut short too
/// early fits in the buffers and blocks nobody.) Returns the bytes sent.
@discardableResult
func flood(
    _ connection: Connection, bytes limit: Int, until deadline: ContinuousClock.Instant,
    readingReplies: Bool
) -> Int {
    let lines = Array(String(repeating: String(repeating: "d", count: 3999) + "\n", count: 16).utf8)
    var replies = [UInt8](repeating: 0, count: 64 * 1024)
    var (sent, lastProgress) = (0, ContinuousClock.now)
    while sent < limit && ContinuousClock.now < deadline
        && ContinuousClock.now - lastProgress < .seconds(1)
    {
        let events = Int16(POLLOUT) | (readingReplies ? Int16(POLLIN) : 0)
        var ready = pollfd(fd: connection.descriptor, events: events, revents: 0)
        guard poll(&ready, 1, 100) >= 0 || errno == EINTR else { break }
        if ready.revents & Int16(POLLIN) != 0 {
            let count = recv(connection.descriptor, &replies, replies.count, Int32(MSG_DONTWAIT))
            if count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR) { break }
        }
        guard ready.revents & Int16(POLLOUT) != 0 else { continue }
        // A send may take part of the buffer; the next one goes on from there, so every line
        // arrives whole.
        let offset = sent % lines.count
        let result = lines.withUnsafeBytes {
            send(
                connection.descriptor, $0.baseAddress! + offset, $0.count - offset,
                Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
        }
        if result > 0 {
            sent += result
            lastProgress = .now
        } else if result < 0 && errno != EAGAIN && errno != EINTR {
            break  // The server closed the connection, or reset it.
        }
    }
    return sent
}

/// A client that sends a short line every 0.1 s, on a thread of its own, and times the reply to
/// each before it sends the next.
private final class Probe: Sendable {
    /// Every round trip so far, in seconds; `nil` once a reply did not come in time.
    private let roundTrips = Locked<[Double]?>([])
    private let finished = DispatchSemaphore(value: 0)

    /// Starts probing on `connection` until `end`; a reply must come by `lastReply`.
    init(
        _ connection: Connection, until end: ContinuousClock.Instant,
        lastReplyBy lastReply: ContinuousClock.Instant
    ) {
        Thread { [roundTrips, finished] in
            var lines = ServerLines(connection)
            var (number, due) = (0, ContinuousClock.now)
            while due < end {
                let token = "probe-\(number)"
                let sentAt = ContinuousClock.now
                var answered = (try? connection.sendLine(token)) != nil
                if answered {
                    answered = false
                    // Other lines (a Stage 2 broadcast of the flood) are read and skipped.
                    while let line = try? lines.nextText(until: lastReply) {
                        if line.hasSuffix(token) {
                            answered = true
                            break
                        }
                    }
                }
                let roundTrip = (ContinuousClock.now - sentAt).seconds
                roundTrips.withLock { $0 = answered ? $0.map { $0 + [roundTrip] } : nil }
                guard answered else { break }
                (number, due) = (number + 1, due + .milliseconds(100))
                // Keeps reading until the next line is due, so that a broadcast never waits
                // on this client.
                while ContinuousClock.now < due, (try? lines.next(until: due)) != nil {}
            }
            finished.signal()
        }.start()
    }

    /// Waits for the probe to end, and returns its slowest round trip in seconds, or `nil` when
    /// some reply never came.
    func slowestReply() -> Double? {
        finished.wait()
        return roundTrips.withLock { $0.flatMap { $0.max() } }
    }
}
