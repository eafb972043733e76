import Foundation
import Glibc

/// One accepted TCP connection.
///
/// From Stage 2 on, a connection is used by more than one thread: its own thread reads from it,
/// while other threads send to it (a broadcast, an ACK). So it is a reference type, and the
/// descriptor is closed in `deinit`, when the last thread lets go of it. Closing it any earlier
/// could let the kernel hand the same number to a new client while a late `send` still holds it.
/// To wake a thread blocked reading, call `shutdown()`: it ends the stream but keeps the number.
public final class Connection: Sendable {
    public let descriptor: Int32
    /// The client's address and port, as `accept` reported them.
    public let peer: SocketAddress
    /// Held while one line is being sent, so lines sent by different threads never interleave.
    private let sendLock = NSLock()

    public init(descriptor: Int32, peer: SocketAddress) {
        self.descriptor = descriptor
        self.peer = peer
    }

    deinit { Glibc.close(descriptor) }

    /// Opens a TCP connection to `address`: the client's half of what `Listener` and `accept`
    /// do, for the companion client and the tests.
    ///
    /// `receiveBuffer` (in bytes) shrinks the socket's receive buffer, so a client that never
    /// reads fills up after a few kilobytes of replies instead of a few megabytes. It is set
    /// before connecting because the window offered in the handshake depends on it.
    ///
    /// The corresponding C functions are `socket`, `setsockopt` and `connect`.
    public static func connect(
        to address: SocketAddress, receiveBuffer: Int32? = nil
    ) throws(SocketError) -> Connection {
        guard case (var storage, let length)? = address.storage() else {
            throw SocketError("connect \(address)", code: EINVAL)
        }
        let descriptor = try openTCPSocket(for: storage)
        // Why TCP_NODELAY: a request/reply client sends one short line and waits. Nagle's
        // algorithm would hold a short line back while an earlier one is unacknowledged.
        var on: Int32 = 1
        setsockopt(
            descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        if var size = receiveBuffer {
            setsockopt(
                descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        // A connect interrupted by a signal goes on in the background and cannot simply be made
        // again, so it is not retried: any failure here is final.
        guard withSockaddr(&storage, { Glibc.connect(descriptor, $0, length) }) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw SocketError("connect \(address)", code: code)
        }
        return Connection(descriptor: descriptor, peer: address)
    }

    // excerpt: send-all
    /// Sends every byte, however many `send` calls it takes.
    ///
    /// A blocking `send` with no timeout waits until it has queued every byte. It returns fewer
    /// when a send timeout (`SO_SNDTIMEO`) expires or a signal handler interrupts it after part of
    /// the bytes went in, or on a non-blocking socket; POSIX allows it at any time. This loops
    /// until all are sent. `MSG_NOSIGNAL` turns a vanished peer into an `EPIPE` error instead of a
    /// `SIGPIPE` that would kill the whole server. The corresponding C function is `send`.
    ///
    /// With `within`, the socket's send timeout, all the bytes must go within that many seconds:
    /// after a partial send, the rest gets only the time left. Otherwise a reader that takes a
    /// few bytes a second would stretch one reply forever, each `send` placing a few bytes just
    /// before its own timeout, and never be cut off.
    public func sendAll(_ bytes: [UInt8], within seconds: Double? = nil) throws(SocketError) {
        sendLock.lock()
        defer { sendLock.unlock() }
        let deadline = seconds.map { ContinuousClock.now + .seconds($0) }
        var shortened = false
        defer { if shortened, let seconds { try? setSendTimeout(seconds) } }
        var sent = 0
        while sent < bytes.count {
            if sent > 0, let deadline {
                let left = deadline - .now
                guard left > .zero else { throw SocketError("send", code: EAGAIN) }
                try setSendTimeout(left.seconds)
                shortened = true
            }
            sent += try retryOnInterrupt("send") {
                bytes.withUnsafeBytes {
                    Glibc.send(
                        descriptor, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL))
                }
            }
        }
    }
    // end excerpt

    /// Sends `text` followed by a newline (within `seconds`, as `sendAll` does).
    public func sendLine(_ text: String, within seconds: Double? = nil) throws(SocketError) {
        try sendAll(Array(text.utf8) + [UInt8(ascii: "\n")], within: seconds)
    }

    /// Sends a last line before the server lets go of the connection, and makes sure the peer
    /// can read it.
    ///
    /// Closing a socket while the peer's bytes sit unread in it makes the kernel send a reset
    /// (RST) instead of a normal end (FIN), and a peer still busy sending gets the reset before
    /// it reads our line: `nc` shows nothing. So after the line, this reads and throws away
    /// whatever the peer is still sending, until it has been quiet for `quietPeriod` seconds,
    /// or for at most `seconds` and `limit` bytes. Our side stays open: ACKs still queued for
    /// the peer (from Stage 3 on) can follow. The corresponding C functions are `send` and `recv`.
    public func sendFinalLine(
        _ text: String, quietPeriod: Double = 0.2, lingering seconds: Double = 1,
        upTo limit: Int = 1 << 20
    ) {
        try? sendLine(text)
        let deadline = ContinuousClock.now + .seconds(seconds)
        var discarded = 0
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while discarded < limit {
            let left = min(deadline - .now, .seconds(quietPeriod))
            guard left > .zero, (try? setReceiveTimeout(left.seconds)) != nil,
                let count = try? receive(into: &chunk), count > 0
            else { return }
            discarded += count
        }
    }

    /// Reads and throws away whatever the peer sends, until it closes its side or another thread
    /// calls `shutdown()`.
    ///
    /// A server that will read no more from a client, but still owes it replies, keeps reading
    /// this way instead of leaving the bytes unread: closing a socket with unread bytes in it
    /// makes the kernel send a reset, which destroys the replies not yet delivered.
    /// The corresponding C function is `recv`.
    public func discardInput() {
        try? setReceiveTimeout(0)
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while let count = try? receive(into: &chunk), count > 0 {}
    }

    /// Reads whatever has arrived, up to the buffer's size, waiting if nothing has.
    /// Returns 0 when the peer has closed its side (end of file).
    /// The corresponding C function is `recv`.
    public func receive(into buffer: inout [UInt8]) throws(SocketError) -> Int {
        try retryOnInterrupt("recv") {
            buffer.withUnsafeMutableBytes { Glibc.recv(descriptor, $0.baseAddress, $0.count, 0) }
        }
    }

    /// Ends the connection in both directions without releasing the descriptor. A thread blocked
    /// in `receive` wakes with end of file. The corresponding C function is `shutdown`.
    public func shutdown() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Ends only our reading side: a thread blocked in `receive` wakes with end of file, and
    /// sending still works.
    public func shutdownRead() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RD))
    }

    /// Ends only our sending side: the peer reads end of file, and may still send to us.
    public func shutdownWrite() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_WR))
    }

    /// Makes a blocked `receive` give up with `EAGAIN` after `seconds` (0 waits forever).
    /// The corresponding C function is `setsockopt` with `SO_RCVTIMEO`.
    public func setReceiveTimeout(_ seconds: Double) throws(SocketError) {
        try setTimeout(SO_RCVTIMEO, seconds, name: "SO_RCVTIMEO")
    }

    /// Makes a blocked `sendAll` give up with `EAGAIN` after `seconds` (0 waits forever).
    /// The corresponding C function is `setsockopt` with `SO_SNDTIMEO`.
    public func setSendTimeout(_ seconds: Double) throws(SocketError) {
        try setTimeout(SO_SNDTIMEO, seconds, name: "SO_SNDTIMEO")
    }

    private func setTimeout(_ option: Int32, _ seconds: Double, name: String) throws(SocketError) {
        let whole = seconds.rounded(.down)
        // A zero timeval means "no timeout", so a tiny positive wait is rounded up to 1 µs.
        let micros = seconds > 0 && seconds < 1e-6 ? 1 : Int((seconds - whole) * 1_000_000)
        var value = timeval(tv_sec: Int(whole), tv_usec: micros)
        try retryOnInterrupt("setsockopt \(name)") {
            setsockopt(
                descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
        }
    }
}
