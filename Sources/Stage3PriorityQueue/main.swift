// Stage 3: a locked priority queue between the client threads and one consumer thread.
//
// Client threads no longer answer for themselves. Each turns a line into a message and pushes it
// into one shared queue; a single consumer thread takes the most urgent message first, does the
// work, and sends the sender an ACK. A line starting `/urgent ` jumps ahead of the normal ones.
//
// Explained in docs/03-priority-queue.md. Read this file first, then MessageQueue.swift.
import Foundation
import Glibc
import Net

// excerpt: options
let options = ServerOptions.parseOrExit(program: "Stage3PriorityQueue", accepting: [.workDelay])
// end excerpt

// excerpt: sigpipe
// Writing to a socket or a pipe whose reader has gone raises SIGPIPE, and its default action kills
// the process. The log is such a pipe when the server runs as `... | head -1`; a client
// is such a socket when it vanishes. Ignored, the signal becomes an EPIPE error from that one
// write, handled where it happens, and the server goes on serving everyone else.
signal(SIGPIPE, SIG_IGN)
// end excerpt

let queue = MessageQueue()

// excerpt: consumer
// The one consumer: it alone does the work, so messages are handled one at a time in priority
// order, however many clients push at once.
Thread {
    Thread.current.name = "consumer"
    while true {
        let message = queue.pop()
        if options.workDelay > 0 { Thread.sleep(forTimeInterval: options.workDelay) }
        log("[\(message.client)] [\(message.priority)] \(printable(message.text))")
        // The sender may have gone meanwhile: then the send fails, the ACK is dropped, and the
        // consumer goes on with the next message.
        try? message.connection.sendAll(
            Array("Received: ".utf8) + message.text + [UInt8(ascii: "\n")])
    }
}.start()
// end excerpt

// The consumer runs before the door opens: once `listening on` is printed, all is ready.
// excerpt: open
acceptClients(on: Listener.openOrExit(host: options.host, port: options.port))
// end excerpt

// excerpt: listen
/// Accepts clients on `listener` for as long as the server runs.
///
/// The function owns the listener (`consuming`): nothing else can use it, or close it, meanwhile.
func acceptClients(on listener: consuming Listener) {
    log("listening on \(listener.address)")
    // end excerpt
    // excerpt: accept-loop
    var clientCount = 0
    while true {
        let connection: Connection
        do {
            connection = try listener.accept()
        } catch {
            // For example EMFILE (out of descriptors): the client waits in the backlog until one frees.
            reportAcceptFailure(error)
            continue
        }
        let client = "client-\(clientCount)"
        clientCount += 1
        log("[\(client)] connected from \(connection.peer)")
        // A thread's closure needs no capture list here: the top-level constants it uses are of
        // Sendable types, which any thread may read, and `client` and `connection` are copied in.
        Thread {
            Thread.current.name = client  // So `ps -T` and /proc/PID/task show who it serves.
            serve(connection, as: client, into: queue)
            log("[\(client)] disconnected")
        }.start()
    }
    // end excerpt
}

// excerpt: serve
/// Reads `client`'s lines on its own thread and queues each one for the consumer.
///
/// Each message keeps a reference to the connection, so the socket stays open until the
/// consumer has sent the last ACK, even when the client has already half-closed its side.
func serve(_ connection: Connection, as client: String, into queue: MessageQueue) {
    var reader = LineReader(connection)
    do {
        while let line = try reader.readLine() {
            let (priority, text) = Priority.parse(line)
            queue.push(client: client, connection: connection, priority: priority, text: text)
        }
    } catch LineReader.Failure.lineTooLong {
        connection.sendFinalLine("ERR line too long (max \(LineFramer.maxLineLength) bytes)")
    } catch {
        // Reset by the peer, or it stopped reading and went away: it is gone either way.
    }
}
// end excerpt
