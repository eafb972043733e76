import Foundation
import Glibc
import Net

/// Repeat mode: `PID: TEXT` every interval, on each of K connections, with whatever comes back
/// printed as it arrives.
///
/// Run one `Client repeat` per terminal against Stage 1 and only the first is answered; against
/// Stage 2 each hears every other. After the last message each connection closes its sending
/// side and keeps printing until the server closes: only then has every reply come back.
func runRepeat(_ options: RepeatOptions) -> Never {
    var connections: [Connection] = []
    for _ in 0..<options.clients {
        do {
            connections.append(try Connection.connect(to: options.server))
        } catch {
            exitWithError(error)
        }
    }
    let readers = DispatchGroup()
    let failed = Locked(false)
    for (number, connection) in connections.enumerated() {
        // With several connections, each printed line says which one it came in on.
        let label = options.clients == 1 ? "" : "connection \(number + 1): "
        readers.enter()
        Thread {
            if !printReplies(from: connection, label: label) { failed.withLock { $0 = true } }
            readers.leave()
        }.start()
    }

    let line = "\(getpid()): \(options.message)"
    let start = ContinuousClock.now
    var sent = 0
    var open = Array(repeating: true, count: connections.count)
    while options.count.map({ sent < $0 }) ?? true, open.contains(true) {
        // Each send is due at a multiple of the interval from the start, so the pace does not
        // drift by the time each round of sends takes.
        let due = start + .seconds(options.interval * Double(sent))
        if due > .now { Thread.sleep(forTimeInterval: (due - .now).seconds) }
        for (number, connection) in connections.enumerated() where open[number] {
            do {
                try connection.sendLine(line)
            } catch {
                open[number] = false  // The server closed it; its reader says why.
            }
        }
        sent += 1
    }
    for connection in connections { connection.shutdownWrite() }
    readers.wait()
    exit(failed.withLock { $0 } ? 1 : 0)
}

/// Prints every line that comes back on `connection`, until the server closes it. Returns false
/// when the connection failed instead (reset by the server, for example).
private func printReplies(from connection: Connection, label: String) -> Bool {
    var lines = ServerLines(connection)
    do {
        while let line = try lines.nextText() { log(label + line) }
        log(label + "server closed the connection")
        return true
    } catch {
        logError("error: \(label)\(error)")
        return false
    }
}
