import Net

// excerpt: slots
/// Counts connected clients against `--max-clients`.
///
/// The accept loop takes a slot before serving a client; the client's thread gives it back when
/// the client leaves, so the next client can have it at once. Taking is check-and-increment in
/// one step under the lock: two threads can never both take the last slot.
final class ClientSlots: Sendable {
    let limit: Int
    private let connected = Locked(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot, or returns false when all `limit` are in use.
    func take() -> Bool {
        connected.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func release() {
        connected.withLock { $0 -= 1 }
    }
}
// end excerpt
