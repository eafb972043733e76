// Stage 5: a graceful shutdown, started by a signal.
//
// Until now Ctrl-C killed the server wherever it was: lines read but not yet handled were lost
// with their ACKs. Here SIGINT and SIGTERM only write a byte into a pipe that the accept loop
// polls beside the listener. The loop then accepts whoever is already waiting and stops
// listening, the queue takes no more, the consumer finishes every message already read, every
// client gets `Quit` and the end of the stream, and the process exits 0 once they have closed,
// or when `--shutdown-timeout` runs out.
//
// Explained in docs/05-shutdown.md. Read this file first, then
// ShutdownSignal.swift, then ClientSlots.swift and MessageQueue.swift.
import Foundation
import Glibc
import Net

// excerpt: options
let options = ServerOptions.parseOrExit(
    program: "Stage5Shutdown",
    accepting: [.workDelay, .maxClients, .idleTimeout, .shutdownTimeout])
// end excerpt

// excerpt: sigpipe
// Writing to a socket or a pipe whose reader has gone raises SIGPIPE, and its default action kills
// the process. The log is such a pipe when the server runs as `... | head -1`; a client
// is such a socket when it vanishes. Ignored, the signal becomes an EPIPE error from that one
// write, handled where it happens, and the server goes on serving everyone else.
signal(SIGPIPE, SIG_IGN)
// end excerpt

// excerpt: signals
// First thing: from here on, SIGINT and SIGTERM no longer kill the process; they wake the loop.
let shutdownSignal = ShutdownSignal.install()
// end excerpt

let queue = MessageQueue()
let slots = ClientSlots(limit: options.maxClients)
/// How long one `send` may wait to go on, like nginx's `send_timeout`. Linux wakes a blocked
/// sender only once a good share of its buffer has drained, so this cuts off a client that
/// reads too slowly to free that much within a second, not only one that has stopped reading.
let sendTimeout = 1.0
/// Every client thread enters this group when it starts and leaves it when it ends; waiting on
/// the group is joining them all.
let clientThreads = DispatchGroup()
let consumerFinished = DispatchSemaphore(value: 0)

// excerpt: consumer
// The one consumer: it alone does the work, so messages are handled one at a time in priority
// order, however many clients push at once. It ends when the queue is closed and empty.
Thread {
    Thread.current.name = "consumer"
    while let message = queue.pop() {
        if options.workDelay > 0 { Thread.sleep(forTimeInterval: options.workDelay) }
        log("[\(message.client)] [\(message.priority)] \(printable(message.text))")
        do {
            try message.connection.sendAll(
                Array("Received: ".utf8) + message.text + [UInt8(ascii: "\n")],
                within: sendTimeout)
        } catch let error as SocketError where error.wouldBlock {
            // The send timeout expired: this client has stopped reading, or reads too slowly to
            // make room. Waiting longer would stall every other client's ACKs behind it, so it
            // is disconnected instead.
            log("[\(message.client)] send timed out")
            message.connection.shutdown()
        } catch {
            // The sender has gone: the ACK is dropped, and the consumer goes on.
        }
        queue.finish(message)
    }
    consumerFinished.signal()
}.start()
// end excerpt

// The consumer runs before the door opens: once `listening on` is printed, all is ready.
// excerpt: open
let clientsServed = acceptClients(
    on: Listener.openOrExit(host: options.host, port: options.port), until: shutdownSignal)
// end excerpt

// excerpt: shutdown
// The listener is closed: new clients are refused. From now on the shutdown runs against one
// deadline, so that clients that neither read nor close cannot keep the server from exiting.
let deadline = DispatchTime.now() + options.shutdownTimeout
// Everyone connected now will hear `Quit`; list them before any of their threads can end and
// give up its slot.
let stillConnected = slots.connections
// The queue was closed at the signal, by the accept loop: it takes no new message. A client
// thread finds it closed at its next line and from then on reads and drops whatever its client
// sends. The consumer ends once it has handled, and ACKed, every message in the queue.
_ = consumerFinished.wait(timeout: deadline)
// Every ACK is sent: now `Quit`, then the end of our side (FIN). A client that reads them closes
// its own side, and its thread, reading end of file, ends.
for connection in stillConnected where DispatchTime.now() < deadline {
    let seconds = min(sendTimeout, secondsLeft(until: deadline))
    try? connection.setSendTimeout(seconds)
    try? connection.sendLine("Quit", within: seconds)
    connection.shutdownWrite()
}
if clientThreads.wait(timeout: deadline) == .timedOut {
    // Past the deadline: whoever is still connected is cut off, which also wakes its thread.
    log("shutdown timeout: cutting off \(slots.connections.count) clients")
    for connection in stillConnected { connection.shutdown() }
    _ = clientThreads.wait(timeout: .now() + 1)
}
log("shutdown complete: \(clientsServed) clients served, \(queue.poppedCount) messages processed")
// end excerpt

// excerpt: listen
/// Makes the listener non-blocking, then accepts clients on it until a shutdown signal arrives,
/// and returns how many it served (turned-away clients not counted).
///
/// The function owns the listener (`consuming`): when it returns, the listener's life ends and
/// its socket is closed. From that moment, a client trying to connect is refused.
func acceptClients(
    on listener: consuming Listener, until shutdown: borrowing ShutdownSignal
) -> Int {
    do {
        // `accept` on a non-blocking socket returns at once with EAGAIN when nobody is waiting.
        try listener.setNonBlocking()
    } catch {
        exitWithError(error)
    }
    log("listening on \(listener.address)")
    // end excerpt
    // excerpt: accept-loop
    var clientCount = 0
    var servedCount = 0
    while true {
        let wake = waitForClient(on: listener, orShutdown: shutdown)
        // From the signal on, the queue takes no new line, not even from clients still in the
        // backlog: what anyone sent that was not read by then is dropped, every time alike.
        if wake == .shutdown { queue.close() }
        // On a shutdown too, accept: clients whose handshake the kernel has finished wait in the
        // backlog, and closing the listener would reset them. They hear `Quit` like the others.
        let connection: Connection
        do {
            connection = try listener.accept()
        } catch _ where wake == .shutdown {
            // The backlog is empty (EAGAIN), or cannot be emptied: now stop listening.
            _ = consume listener
            log("shutting down")
            return servedCount
        } catch let error where error.wouldBlock {
            // Nobody is waiting after all: the client `poll` saw has gone again (readiness is a
            // hint, not a promise). Wait again.
            continue
        } catch {
            // For example EMFILE (out of descriptors): the client waits in the backlog until one frees.
            reportAcceptFailure(error)
            continue
        }
        let client = "client-\(clientCount)"
        clientCount += 1
        guard slots.take(for: client, connection) else {
            log("[\(client)] rejected: server full")
            try? connection.sendLine("ERR server full (max \(options.maxClients) clients)")
            continue  // The last reference goes here, and the socket is closed.
        }
        servedCount += 1
        log("[\(client)] connected from \(connection.peer)")
        clientThreads.enter()
        // A thread's closure needs no capture list here: the top-level constants it uses are of
        // Sendable types, which any thread may read, and `client` and `connection` are copied in.
        Thread {
            Thread.current.name = client  // So `ps -T` and /proc/PID/task show who it serves.
            serve(
                connection, as: client, into: queue, idleTimeout: options.idleTimeout,
                sendTimeout: sendTimeout)
            slots.release(client)
            log("[\(client)] disconnected")
            clientThreads.leave()
        }.start()
    }
    // end excerpt
}

// excerpt: poll
/// What woke the accept loop.
enum Wake {
    case client, shutdown
}

/// Sleeps until a client is waiting to be accepted or a shutdown signal has arrived.
///
/// The signal handler writes a byte into the shutdown pipe, so a signal is one more descriptor
/// becoming readable: the same `poll` that waits for clients waits for it too.
/// The corresponding C function is `poll`.
func waitForClient(
    on listener: borrowing Listener, orShutdown shutdown: borrowing ShutdownSignal
) -> Wake {
    var waiting = [
        pollfd(fd: listener.descriptor, events: Int16(POLLIN), revents: 0),
        pollfd(fd: shutdown.descriptor, events: Int16(POLLIN), revents: 0),
    ]
    // -1: no time limit. A signal arriving during the wait ends it early (EINTR), with nothing
    // marked ready; its byte is in the pipe by then, so the wait is made again and returns at
    // once. Taking the interruption for a client would accept one from the backlog as if no
    // signal had come.
    _ = try? retryOnInterrupt("poll") { poll(&waiting, 2, -1) }
    return waiting[1].revents != 0 ? .shutdown : .client
}
// end excerpt

// excerpt: serve
/// Reads `client`'s lines on its own thread and queues each one for the consumer.
///
/// Each line must be complete within `idleTimeout` seconds of the previous one (or of
/// connecting). A client that trickles a byte at a time cannot stretch that: the deadline is
/// for the whole line, not for each `recv`.
func serve(
    _ connection: Connection, as client: String, into queue: MessageQueue,
    idleTimeout: Double, sendTimeout: Double
) {
    var reader = LineReader(connection)
    do {
        // A client that stops reading its ACKs makes `send` wait at most this long.
        try connection.setSendTimeout(sendTimeout)
        while let line = try reader.readLine(deadline: .now + .seconds(idleTimeout)) {
            let (priority, text) = Priority.parse(line)
            guard queue.push(client: client, connection: connection, priority: priority, text: text)
            else {
                // Shutting down: the queue takes no more. Read and drop the rest until the client
                // closes or is cut off, so that no unread byte turns our close into a reset that
                // destroys its last ACKs and `Quit`.
                connection.discardInput()
                return
            }
        }
    } catch LineReader.Failure.lineTooLong {
        // Its last line comes after the ACKs of every line it sent before.
        queue.waitUntilFinished(client)
        connection.sendFinalLine("ERR line too long (max \(LineFramer.maxLineLength) bytes)")
    } catch LineReader.Failure.timedOut where queue.isClosed {
        // Shutting down: the client is owed its last ACKs and `Quit`, not an idle timeout.
        connection.discardInput()
    } catch LineReader.Failure.timedOut {
        log("[\(client)] idle timeout")
        queue.waitUntilFinished(client)
        connection.sendFinalLine("ERR idle timeout (\(formatSeconds(idleTimeout))s)")
    } catch {
        // Reset by the peer, or it stopped reading and went away: it is gone either way.
    }
}
// end excerpt

/// Seconds from now until `deadline`; 0 once it has passed.
func secondsLeft(until deadline: DispatchTime) -> Double {
    let now = DispatchTime.now()
    return deadline > now ? Double(deadline.uptimeNanoseconds - now.uptimeNanoseconds) / 1e9 : 0
}
