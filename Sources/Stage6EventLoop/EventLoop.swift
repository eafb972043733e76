// Stage6EventLoop: part of the stage explained in docs/07-event-loop.md; main.swift is where it starts.
import Glibc
import Net

/// The one thread that owns every socket: it accepts, reads, frames, queues, sends, times out
/// and shuts down, and never waits anywhere but in `epoll_wait`.
final class EventLoop {
    // Tokens for the descriptors that are not clients; a client's token is its number.
    private static let listenerToken = UInt64.max
    private static let signalToken = UInt64.max - 1
    private static let wakeupToken = UInt64.max - 2

    private let options: ServerOptions
    private let epoll: Epoll
    /// `nil` once closed, at the start of a shutdown.
    private var listener: Listener?
    private let signalDescriptor: Int32
    private let wakeup: Wakeup
    private let queue: MessageQueue

    private var clients: [Int: Client] = [:]
    private var timers = TimerHeap()
    /// Clients touched in this turn, settled at its end.
    private var dirty: [Client] = []
    private var logBuffer = LogBuffer()
    /// The one read buffer: bytes are copied out of it into the client's framer at once.
    private var chunk = [UInt8](repeating: 0, count: Limits.readChunk)
    private var clientCount = 0
    private var servedCount = 0
    /// With no work delay, the messages of this turn, which the loop handles itself at its end.
    private var inline: MessageHeap?
    private var inlineSequence: UInt64 = 0
    private var inlineCount = 0
    private var acceptPausedUntil: ContinuousClock.Instant?
    /// When the current turn began (after the wait): one clock reading serves the whole turn.
    private var now = ContinuousClock.now
    private var shutdownDeadline: ContinuousClock.Instant?

    init(
        listener: consuming Listener, signalDescriptor: Int32, wakeup: Wakeup,
        queue: MessageQueue, options: ServerOptions
    ) throws(SocketError) {
        self.options = options
        self.signalDescriptor = signalDescriptor
        self.wakeup = wakeup
        self.queue = queue
        inline = options.workDelay == 0 ? MessageHeap() : nil
        epoll = try Epoll()
        try listener.setNonBlocking()
        try epoll.add(listener.descriptor, token: Self.listenerToken, for: .readable)
        try epoll.add(signalDescriptor, token: Self.signalToken, for: .readable)
        try epoll.add(wakeup.descriptor, token: Self.wakeupToken, for: .readable)
        logBuffer.add("listening on \(listener.address)")
        self.listener = .some(listener)
    }

    // excerpt: run
    /// Runs until a graceful shutdown has finished. Each turn: write the log, sleep until
    /// something is ready or the soonest deadline, handle what is ready, take the consumer's
    /// results, fire the deadlines that have passed, then send what the turn produced.
    func run() {
        while true {
            logBuffer.flush()
            epoll.wait(milliseconds: millisecondsUntilNextDeadline()) { token, readiness in
                handle(token, readiness)
            }
            now = .now  // For a turn woken by a deadline, with no event to handle.
            takeResults()
            handleInline()
            fireTimers()
            settleDirtyClients()
            if let shutdownDeadline, isShutdownFinished(deadline: shutdownDeadline) { break }
        }
        logBuffer.add(
            "shutdown complete: \(servedCount) clients served, "
                + "\(queue.processedCount + inlineCount) messages processed")
        logBuffer.flush()
    }
    // end excerpt

    // excerpt: handle
    private func handle(_ token: UInt64, _ readiness: Readiness) {
        // The wait may have lasted hours: read the clock before anything is timed from it.
        now = .now
        switch token {
        case Self.listenerToken: acceptWaitingClients()
        case Self.signalToken: beginShutdown()
        case Self.wakeupToken: wakeup.reset()  // The results are taken after every wait.
        default:
            guard let client = clients[Int(token)] else { return }
            if readiness.readable && client.wantsToRead {
                read(from: client)
            } else if readiness.failed && !readiness.writable {
                // Reset, or closed both ways, while we were not reading: nothing more can
                // arrive or leave. Level-triggered epoll would report it on every wait.
                close(client)
                return
            }
            markDirty(client)  // Writable, or just read from: send what it has at the end.
        }
    }
    // end excerpt

    // MARK: Accepting

    // excerpt: accept
    /// Accepts the clients waiting in the backlog: up to `limit` of them, or all of them.
    ///
    /// Why a limit: a client accepted in this turn is read from in the next one at the earliest.
    /// Taking a thousand at once, among them many that connected and already left, would fill
    /// `--max-clients` with clients that are gone but not yet known to be, and turn away live
    /// ones. Level-triggered epoll reports the listener again next turn if more are waiting.
    private func acceptWaitingClients(limit: Int = 32) {
        for _ in 0..<limit {
            let connection: Connection
            do throws(SocketError) {
                guard let accepted = try listener?.accept() else { return }
                connection = accepted
            } catch let error where error.wouldBlock {
                return
            } catch {
                // EMFILE, say. Stop watching the listener for a moment instead of sleeping:
                // the loop has other clients to serve meanwhile.
                logBuffer.add("accept failed: \(error)")
                pauseAccepting()
                return
            }
            admit(connection)
        }
    }

    private func admit(_ connection: Connection) {
        let number = clientCount
        clientCount += 1
        // Non-blocking: the loop must never wait in a `recv` or a `send`.
        let flags = fcntl(connection.descriptor, F_GETFL)
        _ = fcntl(connection.descriptor, F_SETFL, flags | O_NONBLOCK)
        guard clients.count < options.maxClients else {
            logBuffer.add("[client-\(number)] rejected: server full")
            // A fresh socket's buffer has room for one line; if not, it is not worth waiting.
            try? connection.sendLine("ERR server full (max \(options.maxClients) clients)")
            return  // The last reference goes here, and the socket is closed.
        }
        let client = Client(number: number, connection: connection, now: now)
        do throws(SocketError) {
            try epoll.add(connection.descriptor, token: UInt64(number), for: .readable)
        } catch {
            logBuffer.add("[\(client.name)] \(error)")
            return
        }
        servedCount += 1
        clients[number] = client
        logBuffer.add("[\(client.name)] connected from \(connection.peer)")
        arm(client)
    }
    // end excerpt

    private func pauseAccepting() {
        guard let descriptor = listener?.descriptor else { return }
        try? epoll.change(descriptor, token: Self.listenerToken, to: [])
        acceptPausedUntil = now + .milliseconds(100)
    }

    private func resumeAcceptingIfDue(now: ContinuousClock.Instant) {
        guard let until = acceptPausedUntil, until <= now else { return }
        acceptPausedUntil = nil
        if let descriptor = listener?.descriptor {
            try? epoll.change(descriptor, token: Self.listenerToken, to: .readable)
        }
    }

    // MARK: Reading

    // excerpt: read
    /// Reads once from a ready client: whatever has arrived, up to one chunk. Level-triggered
    /// epoll reports the socket again on the next turn if more is waiting, so one busy client
    /// cannot keep the loop from the others.
    private func read(from client: Client) {
        let count: Int
        do throws(SocketError) {
            count = try client.connection.receive(into: &chunk)
        } catch let error where error.wouldBlock {
            return  // Readiness is a hint: someone else's data, or none after all.
        } catch {
            close(client)  // Reset by the peer.
            return
        }
        if client.ending != nil {
            discard(count, from: client)
            return
        }
        if count == 0 {
            client.ending = .peerClosed()  // End of file; the ACKs still go out.
            return
        }
        client.framer.append(chunk[..<count])
        takeLines(from: client)
    }

    /// Queues the client's complete lines, as many as its queue limit allows. Lines beyond it
    /// stay in the framer until ACKs come back, and the socket is not read meanwhile.
    private func takeLines(from client: Client) {
        while client.ending == nil && client.queued < Limits.queuedMessages {
            let line: [UInt8]
            do throws(LineFramer.LineTooLong) {
                guard let next = try client.framer.nextLine() else { break }
                line = next
            } catch {
                client.ending = .error("ERR line too long (max \(LineFramer.maxLineLength) bytes)")
                break
            }
            if line.isEmpty { continue }
            client.lastLine = now
            let (priority, text) = Priority.parse(line)
            if inline != nil {
                inline!.insert(
                    Message(
                        client: client.number, sequence: inlineSequence, priority: priority,
                        text: text))
                inlineSequence += 1
            } else {
                guard queue.push(client: client.number, priority: priority, text: text)
                else { break }
            }
            client.queued += 1
        }
        // Nothing left over: drop the buffer, so an idle client holds none.
        if client.framer.pendingByteCount == 0 { client.framer = LineFramer() }
    }
    // end excerpt

    private func discard(_ count: Int, from client: Client) {
        guard let ending = client.ending else { return }
        if count == 0 {
            ending.peerClosed = true
        } else {
            ending.discarded += count
            if ending.finSent, let quiet = ending.quietPeriod {
                ending.quietDeadline = now + quiet
            }
        }
    }

    // MARK: Results from the consumer

    // excerpt: results
    /// Takes what the consumer has handled: logs each message, and adds its ACK to its client's
    /// output. A client that has gone meanwhile loses its ACK, as in every stage.
    private func takeResults() {
        for handled in queue.takeResults() {
            logBuffer.add(handled.logLine)
            guard let client = clients[handled.client] else { continue }
            client.queued -= 1
            // After our FIN (the client was cut off), there is no sending it anything.
            if client.ending?.finSent == true { continue }
            client.append(handled.reply, now: now)
            markDirty(client)
        }
    }
    // end excerpt

    // excerpt: inline
    /// With `--work-delay 0` there is no slow work to keep off the loop, and handing each
    /// message to another thread and back would cost more than the work itself: two thread
    /// switches and a wake-up per message. So the loop handles the messages of each turn itself,
    /// at the end of the turn, most urgent first, exactly as the consumer would.
    private func handleInline() {
        guard inline != nil else { return }
        while !inline!.isEmpty {
            let message = inline!.removeFirst()
            inlineCount += 1
            logBuffer.add(message)
            guard let client = clients[message.client] else { continue }
            client.queued -= 1
            if client.ending?.finSent == true { continue }
            client.appendAck(of: message.text, now: now)
            markDirty(client)
        }
    }
    // end excerpt

    // MARK: Settling: sending, ending, watching

    private func markDirty(_ client: Client) {
        guard !client.isDirty else { return }
        client.isDirty = true
        dirty.append(client)
    }

    private func settleDirtyClients() {
        let touched = dirty
        dirty = []
        for client in touched {
            client.isDirty = false
            if !client.isClosed { settle(client) }
        }
    }

    // excerpt: settle
    /// Brings one client up to date at the end of a turn: takes lines that were waiting for room
    /// in the queue, says goodbye when its ACKs are done, sends what it can, and tells epoll
    /// what to watch for: readable only while it may read more, writable only while output is
    /// waiting (a socket with room is writable almost always; watching it then would wake the
    /// loop on every turn for nothing).
    private func settle(_ client: Client) {
        let wasReading = client.interest.contains(.readable)
        if client.ending == nil && client.wantsToRead && client.framer.pendingByteCount > 0 {
            takeLines(from: client)
        }
        if let ending = client.ending, client.queued == 0, !ending.farewellQueued {
            ending.farewellQueued = true
            if let farewell = ending.farewell {
                client.append(Array("\(farewell)\n".utf8), now: now)
            }
        }
        guard client.flush(now: now) else { return close(client) }
        if let ending = client.ending, ending.farewellQueued, client.pendingOutput == 0 {
            if ending.peerClosed { return close(client) }
            if !ending.finSent {
                // Our FIN: the client reads end of file after our last line.
                client.connection.shutdownWrite()
                ending.finSent = true
                ending.lingerDeadline = ending.lingerLimit.map { now + $0 }
                ending.quietDeadline = ending.quietPeriod.map { now + $0 }
            }
            if ending.discarded >= ending.discardLimit { return close(client) }
        }
        var interest: Interest = client.wantsToRead ? .readable : []
        if client.pendingOutput > 0 { interest.insert(.writable) }
        if interest != client.interest {
            try? epoll.change(
                client.connection.descriptor, token: UInt64(client.number), to: interest)
            client.interest = interest
        }
        // Back from a pause for backpressure: the idle clock restarts. The client was not idle;
        // we were not listening.
        if client.ending == nil && !wasReading && interest.contains(.readable) {
            client.lastLine = now
        }
        arm(client)
    }
    // end excerpt

    // MARK: Deadlines

    /// The client's soonest deadline, if it has one now.
    private func deadline(of client: Client) -> ContinuousClock.Instant? {
        var soonest: ContinuousClock.Instant?
        if client.pendingOutput > 0 { soonest = client.lastProgress + Limits.sendTimeout }
        if let ending = client.ending {
            soonest = earlier(soonest, ending.lingerDeadline)
            soonest = earlier(soonest, ending.quietDeadline)
        } else if client.interest.contains(.readable) {
            soonest = earlier(soonest, client.lastLine + .seconds(options.idleTimeout))
        }
        return soonest
    }

    /// Makes sure the timer heap holds an entry no later than the client's deadline.
    private func arm(_ client: Client) {
        // The common case, a client being read with nothing to send: its only deadline is the
        // idle one, which only ever moves later. An entry armed already comes no later.
        if client.isArmed && client.ending == nil && client.pendingOutput == 0 { return }
        guard let deadline = deadline(of: client) else { return }
        if client.isArmed && client.armed <= deadline { return }
        client.armed = deadline
        client.isArmed = true
        timers.insert(.init(deadline: deadline, client: client.number))
    }

    // excerpt: fire-timers
    private func fireTimers() {
        resumeAcceptingIfDue(now: now)
        while let entry = timers.first, entry.deadline <= now {
            timers.removeFirst()
            // An entry for a client that has gone, or one replaced by an earlier one: stale.
            guard let client = clients[entry.client], client.isArmed,
                client.armed == entry.deadline
            else { continue }
            client.isArmed = false
            if client.pendingOutput > 0 && now >= client.lastProgress + Limits.sendTimeout {
                // A whole second without taking a byte: this client is not reading. Its replies
                // are dropped and the connection shut both ways; what it is still sending is
                // read and dropped for a moment, so that it meets our FIN and not a reset.
                logBuffer.add("[\(client.name)] send timed out")
                client.connection.shutdown()
                client.output = []
                client.sent = 0
                client.ending = .cutOff(now: now)
                markDirty(client)
                continue
            }
            if let ending = client.ending {
                if let linger = ending.lingerDeadline, now >= linger { close(client) }
                if let quiet = ending.quietDeadline, now >= quiet, !client.isClosed {
                    close(client)
                }
                if client.isClosed { continue }
            } else if client.interest.contains(.readable)
                && now >= client.lastLine + .seconds(options.idleTimeout)
            {
                logBuffer.add("[\(client.name)] idle timeout")
                client.ending = .error("ERR idle timeout (\(formatSeconds(options.idleTimeout))s)")
            }
            markDirty(client)  // Settling arms its next deadline.
        }
    }
    // end excerpt

    private func millisecondsUntilNextDeadline() -> Int32 {
        // Lines taken at the end of the last turn (after their client's queue had room again)
        // are waiting to be handled: look at the sockets, but do not sleep.
        if inline?.isEmpty == false { return 0 }
        let soonest = earlier(earlier(timers.first?.deadline, acceptPausedUntil), shutdownDeadline)
        guard let soonest else { return -1 }
        let left = soonest - .now
        guard left > .zero else { return 0 }
        // Rounded up: waking a moment early would find nothing due and go round for nothing.
        let milliseconds = (left.seconds * 1000).rounded(.up)
        return Int32(min(milliseconds, Double(Int32.max)))
    }

    // MARK: Closing and shutting down

    private func close(_ client: Client) {
        guard !client.isClosed else { return }
        client.isClosed = true
        clients[client.number] = nil
        epoll.remove(client.connection.descriptor)
        logBuffer.add("[\(client.name)] disconnected")
        // The `Connection` closes its socket when its last reference, the client's, goes.
    }

    // excerpt: shutdown
    /// The signal's byte is in the pipe. Accept the clients already waiting, close the listener,
    /// close the queue, and start every client's ending: its ACKs, `Quit`, our FIN, then its
    /// close. The loop goes on turning until every client is gone or the deadline passes.
    private func beginShutdown() {
        guard shutdownDeadline == nil else { return }
        shutdownDeadline = now + .seconds(options.shutdownTimeout)
        // A second signal is the handler's business; this pipe has nothing more to say.
        epoll.remove(signalDescriptor)
        acceptWaitingClients(limit: .max)
        listener = nil  // Closes the socket: from now on, connecting is refused.
        logBuffer.add("shutting down")
        queue.close()
        for client in clients.values where client.ending == nil {
            // Lines read but not yet queued (held back by the queue limit) are dropped with
            // the rest of what the client sends from now on.
            client.framer = LineFramer()
            client.ending = .quit()
            markDirty(client)
        }
    }

    /// True once every client is gone and the consumer has finished, or the deadline has
    /// passed: then whoever is still connected is cut off.
    private func isShutdownFinished(deadline: ContinuousClock.Instant) -> Bool {
        if clients.isEmpty && queue.isFinished { return true }
        guard now >= deadline else { return false }
        logBuffer.add("shutdown timeout: cutting off \(clients.count) clients")
        for client in clients.values { close(client) }
        return true
    }
    // end excerpt
}

/// The earlier of two instants, either of which may be missing.
func earlier(
    _ first: ContinuousClock.Instant?, _ second: ContinuousClock.Instant?
) -> ContinuousClock.Instant? {
    guard let first, let second else { return first ?? second }
    return min(first, second)
}

/// `5` for 5.0, `0.25` for 0.25: seconds as a person would write them.
func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
}
