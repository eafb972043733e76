// Stage5Shutdown: part of the stage explained in docs/05-shutdown.md; main.swift is where it starts.
import Net

// excerpt: slots
/// The clients connected now, counted against `--max-clients`.
///
/// The accept loop takes a slot before serving a client; the client's thread gives it back when
/// the client leaves, so the next client can have it at once. Taking is check-and-insert in
/// one step under the lock: two threads can never both take the last slot. Each slot holds its
/// client's name and connection, so the table says who is connected, not just how many.
final class ClientSlots: Sendable {
    let limit: Int
    private let connected = Locked<[String: Connection]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot for `client`, or returns false when all `limit` are in use.
    func take(for client: String, _ connection: Connection) -> Bool {
        connected.withLock { table in
            guard table.count < limit else { return false }
            table[client] = connection
            return true
        }
    }

    func release(_ client: String) {
        _ = connected.withLock { $0.removeValue(forKey: client) }
    }

    /// The connections of every client connected at this moment: the shutdown says `Quit` to each.
    var connections: [Connection] {
        connected.withLock { Array($0.values) }
    }
}
// end excerpt
