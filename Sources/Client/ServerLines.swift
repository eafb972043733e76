import Glibc
import Net

/// Reads the lines a server sends, one at a time, whatever their length.
///
/// Why not `LineReader` from Net: it is the server's reader. It refuses lines longer than 4096
/// bytes and skips empty ones, which is right for what a server accepts, but a client must show
/// whatever comes back, and a Stage 2 broadcast of a 4096-byte line is longer than that.
struct ServerLines {
    let connection: Connection
    private var pending: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 16 * 1024)
    private var ended = false

    init(_ connection: Connection) {
        self.connection = connection
    }

    /// The next line without its `\n` (or `\r\n`), or `nil` once the server has closed the
    /// connection. An unfinished last line is handed out as it is, just before the end.
    ///
    /// With a `deadline`, gives up when no line is complete by then, with an error whose
    /// `wouldBlock` is true. The corresponding C functions are `poll` and `recv`.
    mutating func next(until deadline: ContinuousClock.Instant? = nil) throws(SocketError)
        -> [UInt8]?
    {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return line
            }
            if ended {
                defer { pending.removeAll() }
                return pending.isEmpty ? nil : pending
            }
            if let deadline { try waitForData(until: deadline) }
            let count = try connection.receive(into: &chunk)
            if count == 0 {
                ended = true
            } else {
                pending.append(contentsOf: chunk[..<count])
            }
        }
    }

    /// The next line as text, bytes that are not UTF-8 shown as `�`.
    mutating func nextText(until deadline: ContinuousClock.Instant? = nil) throws(SocketError)
        -> String?
    {
        try next(until: deadline).map(printable)
    }

    private func waitForData(until deadline: ContinuousClock.Instant) throws(SocketError) {
        while true {
            let left = deadline - .now
            guard left > .zero else { throw SocketError("poll", code: EAGAIN) }
            var readable = pollfd(fd: connection.descriptor, events: Int16(POLLIN), revents: 0)
            // Rounded up, so that a wait of half a millisecond is not a busy loop of zero waits.
            let milliseconds = Int32(min((left.seconds * 1000).rounded(.up), 60_000))
            if try retryOnInterrupt("poll", { poll(&readable, 1, milliseconds) }) > 0 { return }
        }
    }
}
