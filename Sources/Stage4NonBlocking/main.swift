// Stage 4: a non-blocking accept loop, timeouts, and a limit on connections.
//
// Stage 3 trusted every client: to send lines, to read its ACKs, and not to come in thousands.
// Here the listening socket is non-blocking and the accept loop sleeps in `poll` until a client
// is waiting; a client that does not finish a line in time, or does not read its ACKs, is
// disconnected; and beyond `--max-clients` a new client is turned away with a reason.
//
// Explained in docs/04-non-blocking.md. Read this file first, then
// ClientSlots.swift, then MessageQueue.swift.
import Foundation
import Glibc
import Net

// excerpt: options
let options = ServerOptions.parseOrExit(
    program: "Stage4NonBlocking", accepting: [.workDelay, .maxClients, .idleTimeout])
// end excerpt

// excerpt: sigpipe
// Writing to a socket or a pipe whose reader has gone raises SIGPIPE, and its default action kills
// the process. The log is such a pipe when the server runs as `... | head -1`; a client
// is such a socket when it vanishes. Ignored, the signal becomes an EPIPE error from that one
// write, handled where it happens, and the server goes on serving everyone else.
signal(SIGPIPE, SIG_IGN)
// end excerpt

let queue = MessageQueue()
let slots = ClientSlots(limit: options.maxClients)
/// How long one `send` may wait to go on, like nginx's `send_timeout`. Linux wakes a blocked
/// sender only once a good share of its buffer has drained, so this cuts off a client that
/// reads too slowly to free that much within a second, not only one that has stopped reading.
let sendTimeout = 1.0

// excerpt: consumer
// The one consumer: it alone does the work, so messages are handled one at a time in priority
// order, however many clients push at once.
Thread {
    Thread.current.name = "consumer"
    while true {
        let message = queue.pop()
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
}.start()
// end excerpt

// The consumer runs before the door opens: once `listening on` is printed, all is ready.
// excerpt: open
acceptClients(on: Listener.openOrExit(host: options.host, port: options.port))
// end excerpt

// excerpt: listen
/// Makes the listener non-blocking, then accepts clients on it for as long as the server runs.
///
/// The function owns the listener (`consuming`): nothing else can use it, or close it, meanwhile.
func acceptClients(on listener: consuming Listener) {
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
    while true {
        waitForClient(on: listener)
        let connection: Connection
        do {
            connection = try listener.accept()
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
        log("[\(client)] connected from \(connection.peer)")
        // A thread's closure needs no capture list here: the top-level constants it uses are of
        // Sendable types, which any thread may read, and `client` and `connection` are copied in.
        Thread {
            Thread.current.name = client  // So `ps -T` and /proc/PID/task show who it serves.
            serve(
                connection, as: client, into: queue, idleTimeout: options.idleTimeout,
                sendTimeout: sendTimeout)
            slots.release(client)
            log("[\(client)] disconnected")
        }.start()
    }
    // end excerpt
}

// excerpt: poll
/// Sleeps until a client is waiting to be accepted.
///
/// Without this wait, a loop around a non-blocking `accept` would ask "anyone there?" millions
/// of times a second and burn a whole core doing nothing. `poll` lets the kernel wake us.
/// The corresponding C function is `poll`.
func waitForClient(on listener: borrowing Listener) {
    var waiting = pollfd(fd: listener.descriptor, events: Int16(POLLIN), revents: 0)
    // -1: no time limit, there is nothing else to wait for. Should `poll` fail all the same,
    // `accept` finds nobody, and the loop comes back here.
    _ = poll(&waiting, 1, -1)
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
            queue.push(client: client, connection: connection, priority: priority, text: text)
        }
    } catch LineReader.Failure.lineTooLong {
        // Its last line comes after the ACKs of every line it sent before.
        queue.waitUntilFinished(client)
        connection.sendFinalLine("ERR line too long (max \(LineFramer.maxLineLength) bytes)")
    } catch LineReader.Failure.timedOut {
        log("[\(client)] idle timeout")
        queue.waitUntilFinished(client)
        connection.sendFinalLine("ERR idle timeout (\(formatSeconds(idleTimeout))s)")
    } catch {
        // Reset by the peer, or it stopped reading and went away: it is gone either way.
    }
}
// end excerpt
