/// Reads lines from a connection: `recv` into a buffer, a `LineFramer` to cut it into lines.
///
/// Empty lines are skipped here, so no stage ever sees one. A line left unfinished when the peer
/// closes is dropped: only a line with its newline is a message.
public struct LineReader {
    public enum Failure: Error, Equatable {
        /// The peer sent more than `LineFramer.maxLineLength` bytes without a newline.
        case lineTooLong
        /// No complete line arrived before the deadline.
        case timedOut
        /// The connection failed, for example reset by the peer.
        case socket(SocketError)
    }

    public let connection: Connection
    private var framer = LineFramer()
    private var chunk = [UInt8](repeating: 0, count: 16 * 1024)

    public init(_ connection: Connection) {
        self.connection = connection
    }

    // excerpt: read-line
    /// The next non-empty line, or `nil` at end of file.
    ///
    /// With a `deadline`, each `recv` is given only the time left until it (through
    /// `SO_RCVTIMEO`), so a peer that trickles one byte at a time cannot stretch a line forever.
    public mutating func readLine(
        deadline: ContinuousClock.Instant? = nil
    ) throws(Failure) -> [UInt8]? {
        while true {
            do throws(LineFramer.LineTooLong) {
                while let line = try framer.nextLine() {
                    if !line.isEmpty { return line }
                }
            } catch {
                throw .lineTooLong
            }
            if let deadline {
                let left = deadline - .now
                guard left > .zero else { throw .timedOut }
                do throws(SocketError) {
                    try connection.setReceiveTimeout(left.seconds)
                } catch {
                    throw .socket(error)
                }
            }
            let count: Int
            do throws(SocketError) {
                count = try connection.receive(into: &chunk)
            } catch {
                throw error.wouldBlock && deadline != nil ? .timedOut : .socket(error)
            }
            if count == 0 { return nil }
            framer.append(chunk[..<count])
        }
    }
    // end excerpt
}
