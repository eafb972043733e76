import Foundation
import Glibc
import Net

/// Interactive mode, the client a learner types into: what `nc 127.0.0.1 9090` does, plus the
/// `Quit` request of Stage 5.
///
/// Two things can happen at any moment: the person types a line, or the server sends one. Each
/// waits in a blocking call of its own (`read` on standard input, `recv` on the socket), so each
/// gets a thread of its own. This thread prints what the server sends; the other one types.
func runInteractive(_ server: SocketAddress) -> Never {
    let connection: Connection
    do {
        connection = try Connection.connect(to: server)
    } catch {
        exitWithError(error)  // `error: connect 127.0.0.1:9090: Connection refused`, status 1
    }
    Thread { forwardStandardInput(to: connection) }.start()

    let me = "client(\(getpid()))"
    var lines = ServerLines(connection)
    do {
        while let line = try lines.nextText() {
            // Stage 5 says `Quit` when it shuts down: a request, which this client honours.
            if line == "Quit" {
                log("\(me): received request to quit")
                exit(0)
            }
            log(line)
        }
    } catch {
        exitWithError(error)  // Reset by the server: it died with our lines unread, say.
    }
    log("\(me): server closed the connection")
    exit(0)
}

/// Sends everything typed on standard input to the server, as it comes.
///
/// At the end of the input (Ctrl-D, or the end of a pipe) only our sending side is closed: the
/// server reads end of file, and its replies to the last lines can still arrive and be printed.
private func forwardStandardInput(to connection: Connection) {
    var chunk = [UInt8](repeating: 0, count: 16 * 1024)
    var lastByte = UInt8(ascii: "\n")
    while true {
        let count = read(STDIN_FILENO, &chunk, chunk.count)
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        do {
            try connection.sendAll(Array(chunk[..<count]))
        } catch {
            return  // The server has gone; the printing thread says so.
        }
        lastByte = chunk[count - 1]
    }
    // The servers drop a line left unfinished at end of file; a typed last line deserves better.
    if lastByte != UInt8(ascii: "\n") { try? connection.sendAll([UInt8(ascii: "\n")]) }
    connection.shutdownWrite()
}
