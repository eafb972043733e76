/// Turns a stream of bytes into lines.
///
/// TCP delivers bytes, not messages: one `recv` may hold half a line, or three lines and the start
/// of a fourth. The framer keeps the unfinished tail between reads and hands out each complete
/// line once. `\n` ends a line and a `\r` just before it is dropped, so `nc` and `telnet` agree.
///
/// Memory stays bounded: a peer that sends more than `maxLineLength` bytes without a newline gets
/// `LineTooLong` instead of an ever-growing buffer.
public struct LineFramer: Sendable {
    /// The longest line accepted, not counting its `\r\n` or `\n`.
    public static let maxLineLength = 4096

    /// The line in progress was longer than `maxLineLength` bytes.
    public struct LineTooLong: Error, Equatable {}

    private var buffer: [UInt8] = []
    /// Where the next line starts in `buffer`; bytes before it were handed out already.
    private var start = 0
    /// How far `buffer` has been searched for a newline, so a line fed one byte at a time is not
    /// searched again from its start on every byte.
    private var searched = 0

    public init() {}

    /// Adds bytes just received. Call `nextLine()` until it returns `nil` after each append.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        if start > 0 {
            buffer.removeFirst(start)
            searched -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The same for a slice of a read buffer, what every reader passes. A concrete type, so the
    /// copy is one `memcpy` and not a walk through the generic `Collection` interface: for an
    /// event loop reading short lines from many clients, that walk cost more than the `recv`.
    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        if start > 0 {
            buffer.removeFirst(start)
            searched -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    // excerpt: next-line
    /// The next complete line without its terminator, or `nil` when no complete line is buffered.
    public mutating func nextLine() throws(LineTooLong) -> [UInt8]? {
        guard let newline = buffer[searched...].firstIndex(of: UInt8(ascii: "\n")) else {
            searched = buffer.count
            // One byte more than the limit is allowed to wait: it may be the `\r` of a `\r\n`.
            if buffer.count - start > Self.maxLineLength + 1 { throw LineTooLong() }
            return nil
        }
        var end = newline
        if end > start && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = Array(buffer[start..<end])
        start = newline + 1
        searched = start
        if line.count > Self.maxLineLength { throw LineTooLong() }
        return line
    }
    // end excerpt

    /// How many bytes of an unfinished line are waiting for the rest of it.
    public var pendingByteCount: Int { buffer.count - start }
}
