// Stage 1: a single-threaded, blocking echo server.
//
// One thread does everything, one call at a time: wait for a client (`accept`), then wait for
// its lines (`recv`) and echo each one back, until it leaves; only then wait for the next client.
// While one client is being served, everyone else waits. Stage 2 exists because of that.
//
// Explained in docs/01-single-thread.md.
import Glibc
import Net

// excerpt: options
let options = ServerOptions.parseOrExit(program: "Stage1SingleThread")
// end excerpt

// excerpt: sigpipe
// Writing to a socket or a pipe whose reader has gone raises SIGPIPE, and its default action kills
// the process. The log is such a pipe when the server runs as `... | head -1`; a client
// is such a socket when it vanishes. Ignored, the signal becomes an EPIPE error from that one
// write, handled where it happens, and the server goes on serving everyone else.
signal(SIGPIPE, SIG_IGN)
// end excerpt

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
        serve(connection, as: client)
        log("[\(client)] disconnected")
    }
    // end excerpt
}

// excerpt: serve
/// Echoes every line `client` sends until it closes the connection.
func serve(_ connection: Connection, as client: String) {
    var reader = LineReader(connection)
    do {
        while let line = try reader.readLine() {
            log("[\(client)] \(printable(line))")
            try connection.sendAll(line + [UInt8(ascii: "\n")])
        }
    } catch LineReader.Failure.lineTooLong {
        connection.sendFinalLine("ERR line too long (max \(LineFramer.maxLineLength) bytes)")
    } catch {
        // Reset by the peer, or it stopped reading and went away: it is gone either way.
    }
}
// end excerpt
