// Stage 2: a thread per client, a shared registry, and broadcast chat.
//
// The main thread only accepts. Each client gets a thread of its own that blocks in `recv` for
// that client alone, so one quiet client no longer holds up everyone else. Every line a client
// sends goes to every connected client, the sender included, through a registry that all the
// threads share and a mutex guards.
//
// Explained in docs/02-thread-per-client.md. Read this file first, then ClientRegistry.swift.
import Foundation
import Glibc
import Net

// excerpt: options
let options = ServerOptions.parseOrExit(program: "Stage2ThreadPerClient")
// end excerpt

// excerpt: sigpipe
// Writing to a socket or a pipe whose reader has gone raises SIGPIPE, and its default action kills
// the process. The log is such a pipe when the server runs as `... | head -1`; a client
// is such a socket when it vanishes. Ignored, the signal becomes an EPIPE error from that one
// write, handled where it happens, and the server goes on serving everyone else.
signal(SIGPIPE, SIG_IGN)
// end excerpt

let registry = ClientRegistry()

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
        // Registered before its thread starts, so its first line's broadcast already reaches it.
        registry.add(connection, as: client)
        // A thread's closure needs no capture list here: the top-level constants it uses are of
        // Sendable types, which any thread may read, and `client` and `connection` are copied in.
        Thread {
            Thread.current.name = client  // So `ps -T` and /proc/PID/task show who it serves.
            serve(connection, as: client, in: registry)
            registry.remove(client)
            log("[\(client)] disconnected")
        }.start()
    }
    // end excerpt
}

// excerpt: serve
/// Reads `client`'s lines on its own thread and broadcasts each one to everyone connected.
func serve(_ connection: Connection, as client: String, in registry: ClientRegistry) {
    var reader = LineReader(connection)
    do {
        while let line = try reader.readLine() {
            log("[\(client)] \(printable(line))")
            registry.broadcast(Array("[\(client)] ".utf8) + line + [UInt8(ascii: "\n")])
        }
    } catch LineReader.Failure.lineTooLong {
        connection.sendFinalLine("ERR line too long (max \(LineFramer.maxLineLength) bytes)")
    } catch {
        // Reset by the peer, or it stopped reading and went away: it is gone either way.
    }
}
// end excerpt
