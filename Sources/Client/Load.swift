import Foundation
import Glibc
import Net

/// `Client load`: runs the load, prints the summary, exits 0 only when every reply came back.
func runLoadCommand(_ options: LoadOptions) -> Never {
    let result = runLoad(options, showProgress: true)
    log(result.report)
    exit(result.succeeded ? 0 : 1)
}

/// Runs closed-loop load: each connection sends a token line (`t<connection>-<number>`), waits
/// for the reply line that ends with that token, and only then sends the next. Other lines (a
/// Stage 2 broadcast of someone else's message) are read and skipped.
///
/// One thread drives every connection: it sleeps in `poll` until some sockets have replies,
/// reads each of them, and sends each its next message. A thread per connection would spend more
/// on switching between threads than on the network, and a load generator that is slower than
/// the server measures itself. `poll` is handed the whole list on every call; for a hundred
/// connections that costs far less than the round trips it waits for.
func runLoad(_ options: LoadOptions, showProgress: Bool = false) -> LoadResult {
    var run = LoadRun(options)
    let start = ContinuousClock.now
    let deadline = start + .seconds(options.timeout)
    var progress = Progress(expected: options.clients * options.messages, at: start)
    // excerpt: closed-loop
    for index in run.clients.indices { run.sendNext(index) }
    while run.active > 0 && ContinuousClock.now < deadline {
        // Wakes when replies have come in, and every 100 ms anyway to check the deadline.
        guard poll(&run.watched, nfds_t(run.watched.count), 100) > 0 else { continue }
        for index in run.watched.indices where run.watched[index].revents != 0 {
            run.receive(index)
        }
        if showProgress { progress.report(run.roundTrips.count) }
    }
    // end excerpt
    return LoadResult(run, start: start)
}

/// The state of one load run: every connection, and what has come back so far.
private struct LoadRun {
    struct Client {
        /// `nil` once the client has finished or failed: letting go of it closes the socket.
        var connection: Connection?
        /// The line last sent: the prefix, the token, a newline. Its token is what the reply
        /// must end with. Rewritten in place for each message, so the loop allocates nothing.
        var line: [UInt8] = []
        var sentAt = ContinuousClock.now
        /// True while a message is out and its reply has not come.
        var awaiting = false
        /// Replies received so far; also the number in the next token.
        var answered = 0
        var firstReply: ContinuousClock.Instant?
        /// Bytes received after the last complete line.
        var unfinished: [UInt8] = []
    }

    let options: LoadOptions
    let prefix: [UInt8]
    var clients: [Client] = []
    /// What `poll` watches, one entry per client in the same order. A finished client's
    /// descriptor is set to -1, which `poll` skips.
    var watched: [pollfd] = []
    /// Connections still expecting replies.
    var active = 0
    /// Every round trip, in seconds, in the order they completed.
    var roundTrips: [Double] = []
    var connectionErrors = 0
    var firstError: String?
    private var chunk = [UInt8](repeating: 0, count: 16 * 1024)

    /// Connects every client, one after another, before any message is sent: the run measures
    /// messages, not handshakes. A connection that fails is counted and left out.
    init(_ options: LoadOptions) {
        self.options = options
        prefix = Array(options.prefix.utf8)
        roundTrips.reserveCapacity(min(options.clients * options.messages, 1 << 20))
        for _ in 0..<options.clients {
            do {
                let connection = try Connection.connect(to: options.server)
                clients.append(Client(connection: connection))
                watched.append(pollfd(fd: connection.descriptor, events: Int16(POLLIN), revents: 0))
                active += 1
            } catch {
                clients.append(Client())
                watched.append(pollfd(fd: -1, events: 0, revents: 0))
                connectionErrors += 1
                if firstError == nil { firstError = error.description }
            }
        }
    }

    /// Sends client `index` its next token line.
    mutating func sendNext(_ index: Int) {
        guard let connection = clients[index].connection else { return }
        clients[index].line.removeAll(keepingCapacity: true)
        clients[index].line += prefix
        clients[index].line.append(UInt8(ascii: "t"))
        appendDecimal(index, to: &clients[index].line)
        clients[index].line.append(UInt8(ascii: "-"))
        appendDecimal(clients[index].answered, to: &clients[index].line)
        clients[index].line.append(UInt8(ascii: "\n"))
        clients[index].sentAt = .now
        clients[index].awaiting = true
        do {
            try connection.sendAll(clients[index].line)
        } catch {
            end(index, failure: error.description)
        }
    }

    /// The token of client `index`'s last message: its line without the prefix and newline.
    private func token(_ index: Int) -> ArraySlice<UInt8> {
        clients[index].line.dropFirst(prefix.count).dropLast()
    }

    // excerpt: receive
    /// Reads what has arrived for client `index`, once, and handles every complete line.
    ///
    /// Once is enough: `poll` reports a socket for as long as it has unread bytes, so whatever
    /// one `recv` leaves behind is picked up on the next wait.
    mutating func receive(_ index: Int) {
        guard let connection = clients[index].connection else { return }
        let count: Int
        do {
            count = try connection.receive(into: &chunk)
        } catch {
            return end(index, failure: error.description)
        }
        if count == 0 { return end(index, failure: "the server closed a connection") }
        // Taken out while it is worked on, so that it is appended to in place, not copied.
        var bytes: [UInt8] = []
        swap(&bytes, &clients[index].unfinished)
        bytes.append(contentsOf: chunk[..<count])
        var lineStart = 0
        while let newline = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = bytes[lineStart..<newline]
            let expected = token(index)
            if clients[index].awaiting && line.count >= expected.count
                && line.suffix(expected.count).elementsEqual(expected)
            {
                replied(index)
                guard clients[index].connection != nil else { return }
            }
            lineStart = newline + 1
        }
        bytes.removeFirst(lineStart)
        clients[index].unfinished = bytes
    }
    // end excerpt

    private mutating func replied(_ index: Int) {
        let now = ContinuousClock.now
        roundTrips.append((now - clients[index].sentAt).seconds)
        clients[index].awaiting = false
        if clients[index].firstReply == nil { clients[index].firstReply = now }
        clients[index].answered += 1
        if clients[index].answered == options.messages {
            // Done: leave at once. On Stage 1 that lets the server turn to the next client.
            end(index, failure: nil)
        } else {
            sendNext(index)
        }
    }

    /// Closes client `index`'s connection: it has all its replies, or `failure` says why not.
    private mutating func end(_ index: Int, failure: String?) {
        clients[index].connection = nil
        watched[index].fd = -1
        active -= 1
        if let failure {
            connectionErrors += 1
            if firstError == nil { firstError = failure }
        }
    }
}

/// Appends `value` (0 or more) in decimal digits, as `String(value)` would spell it, without
/// making a string first.
private func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
    if value >= 10 { appendDecimal(value / 10, to: &bytes) }
    bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
}

/// What a load run measured.
struct LoadResult: Sendable {
    let options: LoadOptions
    /// Messages whose reply came back.
    let completed: Int
    /// Messages sent whose reply never came: lost with a failed connection, or still out when
    /// the run timed out.
    let unanswered: Int
    /// Connections that could not be opened, or that the server closed or reset before their
    /// last reply.
    let connectionErrors: Int
    /// The first failure, as the kernel worded it, for the report.
    let firstError: String?
    /// Seconds from the first message sent to the end of the run.
    let elapsed: Double
    /// Every round trip, in seconds, shortest first.
    let roundTrips: [Double]
    /// Seconds from the first message sent until the last connection to be served at all got
    /// its first reply; `nil` when some connection never got one.
    let slowestFirstReply: Double?

    fileprivate init(_ run: LoadRun, start: ContinuousClock.Instant) {
        options = run.options
        completed = run.roundTrips.count
        unanswered = run.clients.filter(\.awaiting).count
        connectionErrors = run.connectionErrors
        firstError = run.firstError
        elapsed = (ContinuousClock.now - start).seconds
        roundTrips = run.roundTrips.sorted()
        // Only when every connection got a reply is there a slowest first reply to tell.
        let firstReplies = run.clients.compactMap(\.firstReply)
        slowestFirstReply =
            firstReplies.count == run.clients.count
            ? firstReplies.max().map { ($0 - start).seconds } : nil
    }

    var expected: Int { options.clients * options.messages }
    var messagesPerSecond: Double { elapsed > 0 ? Double(completed) / elapsed : 0 }
    var succeeded: Bool { completed == expected && connectionErrors == 0 }

    /// The round trip that `fraction` of all round trips took at most, in seconds: 0.5 is the
    /// median (p50), 0.99 the p99.
    func latency(_ fraction: Double) -> Double {
        guard !roundTrips.isEmpty else { return 0 }
        return roundTrips[min(roundTrips.count - 1, Int(Double(roundTrips.count) * fraction))]
    }

    /// The summary `Client load` prints.
    var report: String {
        func milliseconds(_ seconds: Double) -> String { String(format: "%.3f ms", seconds * 1000) }
        var lines = [
            "server             \(options.server)",
            "clients            \(options.clients)",
            "messages/client    \(options.messages)",
            "completed          \(completed) of \(expected)",
            "unanswered         \(unanswered)",
            "connection errors  \(connectionErrors)",
            "elapsed            \(String(format: "%.3f", elapsed)) s",
            "messages/s         \(Int(messagesPerSecond.rounded()))",
            "latency p50        \(milliseconds(latency(0.50)))",
            "latency p90        \(milliseconds(latency(0.90)))",
            "latency p99        \(milliseconds(latency(0.99)))",
            "latency max        \(milliseconds(latency(1)))",
        ]
        if let firstError { lines.append("first error        \(firstError)") }
        return lines.joined(separator: "\n")
    }
}

/// The line `Client load` prints on stderr about once a second while it runs.
private struct Progress {
    let expected: Int
    private var last: (time: ContinuousClock.Instant, completed: Int)

    init(expected: Int, at start: ContinuousClock.Instant) {
        self.expected = expected
        last = (start, 0)
    }

    mutating func report(_ completed: Int) {
        let elapsed = (ContinuousClock.now - last.time).seconds
        guard elapsed >= 1 else { return }
        let rate = Double(completed - last.completed) / elapsed
        logError("load: \(completed) of \(expected) answered, \(Int(rate)) messages/s")
        last = (.now, completed)
    }
}
