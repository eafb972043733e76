import Foundation
import Glibc
import Net

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
    /// Every round trip, in nanoseconds, shortest first.
    let latencies: [UInt64]
    /// Seconds from the first message sent until the last connection to be served at all got
    /// its first reply; `nil` when some connection never got one.
    let slowestFirstReply: Double?

    var expected: Int { options.clients * options.messages }
    var messagesPerSecond: Double { elapsed > 0 ? Double(completed) / elapsed : 0 }
    var succeeded: Bool { completed == expected && connectionErrors == 0 }

    /// The round trip that `fraction` of all round trips took at most, in seconds: 0.5 is the
    /// median (p50), 0.99 the p99.
    func latency(_ fraction: Double) -> Double {
        guard !latencies.isEmpty else { return 0 }
        let index = min(latencies.count - 1, Int(Double(latencies.count) * fraction))
        return Double(latencies[index]) / 1e9
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

/// `Client load`: runs the load, prints the summary, exits 0 only when every reply came back.
func runLoadCommand(_ options: LoadOptions) -> Never {
    let result = runLoad(options, showProgress: true)
    log(result.report)
    exit(result.succeeded ? 0 : 1)
}

/// Runs closed-loop load: each connection sends a token line, waits for a reply line holding
/// that token, and only then sends the next. Other lines (a Stage 2 broadcast of someone
/// else's message) are read and ignored.
///
/// One thread drives every connection: it sleeps in `epoll_wait` until some sockets have
/// replies, reads each once, and sends each one's next message. A thread per connection would
/// spend more on switching between threads than on the network, and a load generator that is
/// slower than the server measures itself.
func runLoad(_ options: LoadOptions, showProgress: Bool = false) -> LoadResult {
    let run = LoadRun(options)
    defer { run.closeAll() }
    return run.run(showProgress: showProgress)
}

/// The state of one load run. Its memory is allocated once, up front, so that the loop that
/// sends and receives allocates nothing: at a hundred thousand messages a second, every
/// allocation shows.
private final class LoadRun {
    /// One connection's part in the run.
    struct Client {
        enum State { case connecting, running, finished, failed }
        var descriptor: Int32 = -1
        var state = State.connecting
        /// Replies received so far; also the number in the next token.
        var answered = 0
        /// True while a message is out and its reply has not come.
        var awaiting = false
        var sentAt: UInt64 = 0
        var firstReplyAt: UInt64 = 0
        /// Bytes of an unfinished line waiting in this client's receive buffer.
        var buffered = 0
        var tokenLength = 0
    }

    /// Room for several replies and an unfinished line. A longer line is dropped: no token
    /// line is anywhere near that long.
    static let receiveBufferSize = 16 * 1024
    static let tokenCapacity = 32

    let options: LoadOptions
    /// How many bytes of `--prefix` start every line.
    let prefixLength: Int
    /// Pointers, not an array, so that the loop pays for no exclusivity or copy-on-write checks.
    let clients: UnsafeMutableBufferPointer<Client>
    /// Every client's receive buffer, one after another.
    let received: UnsafeMutablePointer<UInt8>
    /// Every client's current token (`t<client>-<number>`), `tokenCapacity` bytes each.
    let tokens: UnsafeMutablePointer<UInt8>
    /// Where the next line is put together before it is sent. The prefix is written once, here.
    let outgoing: UnsafeMutablePointer<UInt8>
    /// Every round trip, in nanoseconds, in the order they completed.
    let latencies: UnsafeMutablePointer<UInt64>
    var completed = 0
    var connectionErrors = 0
    var firstError: String?
    /// Connections still expecting replies.
    var active = 0

    init(_ options: LoadOptions) {
        self.options = options
        let prefix = Array(options.prefix.utf8)
        prefixLength = prefix.count
        clients = .allocate(capacity: options.clients)
        clients.initialize(repeating: Client())
        received = .allocate(capacity: options.clients * Self.receiveBufferSize)
        tokens = .allocate(capacity: options.clients * Self.tokenCapacity)
        outgoing = .allocate(capacity: prefix.count + Self.tokenCapacity + 1)
        outgoing.initialize(from: prefix, count: prefix.count)
        latencies = .allocate(capacity: options.clients * options.messages)
    }

    deinit {
        clients.deallocate()
        received.deallocate()
        tokens.deallocate()
        outgoing.deallocate()
        latencies.deallocate()
    }

    func run(showProgress: Bool) -> LoadResult {
        let events: EventPoll
        do {
            events = try EventPoll()
        } catch {
            exitWithError(error)
        }
        openConnections(watchedBy: events)
        let start = monotonicNanoseconds()
        let deadline = start + UInt64(options.timeout * 1e9)
        var progress = Progress(expected: options.clients * options.messages, at: start)
        // excerpt: closed-loop
        for index in clients.indices where clients[index].state == .running {
            sendNext(index)
        }
        while active > 0 && monotonicNanoseconds() < deadline {
            // Wakes when replies have come in, and every 100 ms anyway to check the deadline.
            events.wait(milliseconds: 100) { token in receive(Int(token)) }
            if showProgress { progress.report(completed) }
        }
        // end excerpt
        let end = monotonicNanoseconds()
        return result(start: start, end: end)
    }

    /// Connects every client, one after another, before any message is sent: the run measures
    /// messages, not handshakes. A connection that fails is counted and left out.
    private func openConnections(watchedBy events: borrowing EventPoll) {
        for index in clients.indices {
            do {
                let connection = try connect(to: options.server)
                // The run owns the descriptor from here on: `dup` keeps it open after the
                // `Connection` wrapper closes its own copy.
                let descriptor = dup(connection.descriptor)
                _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
                try events.watch(descriptor, as: EventPoll.Token(index))
                clients[index].descriptor = descriptor
                clients[index].state = .running
                active += 1
            } catch {
                clients[index].state = .failed
                connectionErrors += 1
                if firstError == nil { firstError = error.description }
            }
        }
    }

    /// Sends client `index` its next token line.
    private func sendNext(_ index: Int) {
        let token = tokens + index * Self.tokenCapacity
        var length = 0
        token[length] = UInt8(ascii: "t")
        length += 1
        length += writeDecimal(index, to: token + length)
        token[length] = UInt8(ascii: "-")
        length += 1
        length += writeDecimal(clients[index].answered, to: token + length)
        clients[index].tokenLength = length

        (outgoing + prefixLength).update(from: token, count: length)
        outgoing[prefixLength + length] = UInt8(ascii: "\n")
        let lineLength = prefixLength + length + 1

        clients[index].sentAt = monotonicNanoseconds()
        clients[index].awaiting = true
        if !sendAll(outgoing, count: lineLength, on: clients[index].descriptor) {
            fail(index, because: SocketError("send", code: errno).description)
        }
    }

    // excerpt: receive
    /// Reads what has arrived for client `index`, once, and handles every complete line.
    ///
    /// Once is enough: epoll reports a socket for as long as it has unread bytes, so whatever
    /// one `recv` leaves behind is picked up on the next wait, and no call is spent learning
    /// that nothing is left.
    private func receive(_ index: Int) {
        guard clients[index].state == .running else { return }
        let buffer = received + index * Self.receiveBufferSize
        let buffered = clients[index].buffered
        let count = recv(
            clients[index].descriptor, buffer + buffered, Self.receiveBufferSize - buffered, 0)
        if count == 0 {
            fail(index, because: "the server closed a connection")
            return
        }
        if count < 0 {
            if errno != EAGAIN && errno != EINTR {
                fail(index, because: SocketError("recv", code: errno).description)
            }
            return
        }
        let end = buffered + count
        var lineStart = 0
        while lineStart < end, let newline = memchr(buffer + lineStart, 10, end - lineStart) {
            let lineEnd = buffer.distance(to: newline.assumingMemoryBound(to: UInt8.self))
            if clients[index].awaiting
                && lineHoldsToken(buffer + lineStart, lineEnd - lineStart, of: index)
            {
                replied(index)
                guard clients[index].state == .running else { return }
            }
            lineStart = lineEnd + 1
        }
        var left = end - lineStart
        if left > 0 && lineStart > 0 { memmove(buffer, buffer + lineStart, left) }
        if left == Self.receiveBufferSize { left = 0 }  // A line too long to be a reply: dropped.
        clients[index].buffered = left
    }
    // end excerpt

    /// True when the line holds client `index`'s current token, not followed by another digit
    /// (so that `t1-1` is not found in `t1-10`).
    private func lineHoldsToken(_ line: UnsafeMutablePointer<UInt8>, _ length: Int, of index: Int)
        -> Bool
    {
        let token = tokens + index * Self.tokenCapacity
        let tokenLength = clients[index].tokenLength
        var from = 0
        while length - from >= tokenLength,
            let found = memchr(
                line + from, Int32(UInt8(ascii: "t")), length - from - tokenLength + 1)
        {
            let at = line.distance(to: found.assumingMemoryBound(to: UInt8.self))
            let after = at + tokenLength
            if memcmp(line + at, token, tokenLength) == 0
                && (after == length || !(48...57).contains(line[after]))
            {
                return true
            }
            from = at + 1
        }
        return false
    }

    private func replied(_ index: Int) {
        let now = monotonicNanoseconds()
        latencies[completed] = now - clients[index].sentAt
        completed += 1
        clients[index].awaiting = false
        if clients[index].answered == 0 { clients[index].firstReplyAt = now }
        clients[index].answered += 1
        if clients[index].answered == options.messages {
            // Done: leave at once. On Stage 1 that lets the server turn to the next client.
            clients[index].state = .finished
            close(clients[index].descriptor)
            active -= 1
        } else {
            sendNext(index)
        }
    }

    private func fail(_ index: Int, because reason: String) {
        clients[index].state = .failed
        close(clients[index].descriptor)
        connectionErrors += 1
        active -= 1
        if firstError == nil { firstError = reason }
    }

    func closeAll() {
        for index in clients.indices where clients[index].state == .running {
            close(clients[index].descriptor)
            clients[index].state = .finished
        }
    }

    private func result(start: UInt64, end: UInt64) -> LoadResult {
        // Only when every connection got a reply is there a slowest first reply to tell.
        let everyoneServed = clients.allSatisfy { $0.answered > 0 }
        let slowestFirst = everyoneServed ? clients.map(\.firstReplyAt).max() : nil
        return LoadResult(
            options: options,
            completed: completed,
            unanswered: clients.filter(\.awaiting).count,
            connectionErrors: connectionErrors,
            firstError: firstError,
            elapsed: Double(end - start) / 1e9,
            latencies: UnsafeBufferPointer(start: latencies, count: completed).sorted(),
            slowestFirstReply: slowestFirst.map { Double($0 - start) / 1e9 })
    }
}

/// The line `Client load` prints on stderr about once a second while it runs.
private struct Progress {
    let expected: Int
    private var last: (time: UInt64, completed: Int)

    init(expected: Int, at start: UInt64) {
        self.expected = expected
        last = (start, 0)
    }

    mutating func report(_ completed: Int) {
        let now = monotonicNanoseconds()
        guard now - last.time >= 1_000_000_000 else { return }
        let rate = Double(completed - last.completed) * 1e9 / Double(now - last.time)
        logError("load: \(completed) of \(expected) answered, \(Int(rate)) messages/s")
        last = (now, completed)
    }
}

/// Sends `count` bytes, waiting (up to a second at a time) whenever the socket buffer is full.
/// Returns false when the connection failed.
private func sendAll(_ bytes: UnsafeMutablePointer<UInt8>, count: Int, on descriptor: Int32) -> Bool
{
    var sent = 0
    while sent < count {
        let result = send(descriptor, bytes + sent, count - sent, Int32(MSG_NOSIGNAL))
        if result > 0 {
            sent += result
        } else if result < 0 && errno == EINTR {
            continue
        } else if result < 0 && errno == EAGAIN {
            var writable = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            if poll(&writable, 1, 1000) <= 0 {
                errno = ETIMEDOUT
                return false
            }
        } else {
            return false
        }
    }
    return true
}

/// Writes `value` (0 or more) in decimal at `destination`; returns how many digits it took.
private func writeDecimal(_ value: Int, to destination: UnsafeMutablePointer<UInt8>) -> Int {
    var digits = 1
    var rest = value / 10
    while rest > 0 {
        digits += 1
        rest /= 10
    }
    var remaining = value
    for position in stride(from: digits - 1, through: 0, by: -1) {
        destination[position] = UInt8(ascii: "0") + UInt8(remaining % 10)
        remaining /= 10
    }
    return digits
}

/// The monotonic clock in nanoseconds: never set back, unlike the time of day.
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
