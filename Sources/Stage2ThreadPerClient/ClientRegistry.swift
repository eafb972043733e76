// Stage2ThreadPerClient: part of the stage explained in docs/02-thread-per-client.md; main.swift is where it starts.
import Net

// excerpt: registry
/// Who is connected right now, shared by every client thread.
///
/// A client is added when it connects and removed when its thread ends, so a broadcast never
/// reaches a client that has left and never reaches anyone twice. The mutex guards only the
/// table: `broadcast` copies the list of recipients under the lock and sends after releasing it,
/// so a client that is slow to read holds up the broadcasts to it, never the registry itself.
final class ClientRegistry: Sendable {
    private let clients = Locked<[String: Connection]>([:])

    func add(_ connection: Connection, as client: String) {
        clients.withLock { $0[client] = connection }
    }

    func remove(_ client: String) {
        _ = clients.withLock { $0.removeValue(forKey: client) }
    }

    /// Sends `line` to every client connected at this moment.
    func broadcast(_ line: [UInt8]) {
        let recipients = clients.withLock { Array($0.values) }
        for recipient in recipients {
            // A failed send means that client is leaving; its own thread sees the error too,
            // and removes it. The other recipients still get the line.
            try? recipient.sendAll(line)
        }
    }
}
// end excerpt
