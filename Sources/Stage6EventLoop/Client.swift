// Stage6EventLoop: part of the stage explained in docs/07-event-loop.md; main.swift is where it starts.
import Glibc
import Net

/// The limits that bound what one client can make the server hold.
enum Limits {
    /// Messages a client may have waiting for the consumer. At this many, the loop stops reading
    /// from it, and TCP flow control pushes back on the sender: backpressure.
    static let queuedMessages = 8
    /// Reply bytes a client may leave unsent in our buffer before the loop stops reading from
    /// it: a client that does not read its ACKs does not get to send more lines either.
    static let pendingOutput = 64 * 1024
    /// Bytes read from a socket in one go. One buffer of this size serves every client.
    static let readChunk = 16 * 1024
    /// How long a client may leave its replies unread, with no byte taken, before it is cut off.
    static let sendTimeout: Duration = .seconds(1)
}

// excerpt: client
/// One connected client, as the loop sees it.
///
/// In Stage 5 a client's state lived on its thread's stack: where it was in its line, what it
/// was sending. A thread that waited kept it all there. Here nothing may wait, so that state
/// is written down in an object the loop comes back to whenever the socket is ready: the bytes
/// of a line not yet complete (`framer`), the replies the kernel has not taken yet (`output`),
/// and which phase of its life the client is in.
final class Client {
    let number: Int
    let name: String
    let connection: Connection
    /// Bytes received that do not make a whole line yet, and whole lines not yet queued.
    var framer = LineFramer()
    /// Replies waiting for room in the socket: `output[sent...]` is still to go.
    var output: [UInt8] = []
    var sent = 0
    /// Messages queued for the consumer and not handled yet.
    var queued = 0
    /// Set once the client takes no more lines; `nil` while it is served normally.
    var ending: Ending?
    /// When the client last completed a line: the idle timeout counts from here.
    var lastLine: ContinuousClock.Instant
    /// When the kernel last took bytes of `output`: the send timeout counts from here.
    var lastProgress: ContinuousClock.Instant
    /// What epoll watches this socket for right now.
    var interest: Interest = .readable
    /// The deadline of this client's entry in the loop's timer heap, while `isArmed`.
    var armed: ContinuousClock.Instant
    var isArmed = false
    /// Queued for the end of this turn of the loop, when output is sent and state settled.
    var isDirty = false
    var isClosed = false

    init(number: Int, connection: Connection, now: ContinuousClock.Instant) {
        self.number = number
        name = "client-\(number)"
        self.connection = connection
        lastLine = now
        lastProgress = now
        armed = now
    }

    var pendingOutput: Int { output.count - sent }

    /// True while the loop should read from the socket: in the normal phase, as long as the
    /// client is not over a limit; once ending, as long as there is something left to discard.
    var wantsToRead: Bool {
        guard let ending else {
            return queued < Limits.queuedMessages && pendingOutput < Limits.pendingOutput
        }
        return !ending.peerClosed && ending.discarded < ending.discardLimit
    }

    /// Adds a reply to the output; the loop sends it at the end of this turn.
    func append(_ bytes: [UInt8], now: ContinuousClock.Instant) {
        // The send timeout counts from the moment there is something to send.
        if pendingOutput == 0 { lastProgress = now }
        output.append(contentsOf: bytes)
    }

    private static let ackPrefix = Array("Received: ".utf8)

    /// Adds the ACK of a message, `Received: TEXT`, straight into the output.
    func appendAck(of text: [UInt8], now: ContinuousClock.Instant) {
        if pendingOutput == 0 { lastProgress = now }
        output.reserveCapacity(output.count + Self.ackPrefix.count + text.count + 1)
        output.append(contentsOf: Self.ackPrefix)
        output.append(contentsOf: text)
        output.append(UInt8(ascii: "\n"))
    }

    /// Sends as much of the output as the kernel takes now, without waiting. Returns false when
    /// the connection has failed (the peer reset it, or has gone).
    func flush(now: ContinuousClock.Instant) -> Bool {
        while sent < output.count {
            let count = output.withUnsafeBytes {
                send(
                    connection.descriptor, $0.baseAddress! + sent, $0.count - sent,
                    Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if count > 0 {
                sent += count
                lastProgress = now
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return true  // The socket's buffer is full: the rest waits for EPOLLOUT.
            } else if errno != EINTR {
                return false
            }
        }
        // All sent: give the memory back, so ten thousand idle clients hold no buffers.
        output = []
        sent = 0
        return true
    }
}
// end excerpt

// excerpt: ending
/// How a client's connection ends once it takes no more lines: after a line too long, an idle
/// timeout, its own end of file, or a shutdown.
///
/// The ACKs of its queued messages still go out first. Then its `farewell` line, if it has one,
/// then our FIN (`shutdown(SHUT_WR)`). Until the client closes too, whatever it still sends is
/// read and thrown away: closing a socket with unread bytes in it would send a reset, and a
/// reset can destroy the replies still on their way to the client.
final class Ending {
    /// The last line, such as `ERR idle timeout (5s)` or `Quit`; `nil` after the client's EOF.
    let farewell: String?
    /// After our FIN: close once the client has been quiet this long (nil: wait for its close).
    let quietPeriod: Duration?
    /// After our FIN: close after this long at most (nil: the shutdown's deadline decides).
    let lingerLimit: Duration?
    /// Bytes to read and discard at most.
    let discardLimit: Int

    var farewellQueued = false
    var finSent = false
    /// The client has closed its sending side: a read returned end of file.
    var peerClosed = false
    var discarded = 0
    var lingerDeadline: ContinuousClock.Instant?
    var quietDeadline: ContinuousClock.Instant?

    init(
        farewell: String?, quietPeriod: Duration?, lingerLimit: Duration?, discardLimit: Int,
        peerClosed: Bool = false
    ) {
        self.farewell = farewell
        self.quietPeriod = quietPeriod
        self.lingerLimit = lingerLimit
        self.discardLimit = discardLimit
        self.peerClosed = peerClosed
    }

    /// After a broken rule: the same limits as `sendFinalLine` in the threaded stages.
    static func error(_ line: String) -> Ending {
        Ending(
            farewell: line, quietPeriod: .milliseconds(200), lingerLimit: .seconds(1),
            discardLimit: 1 << 20)
    }

    /// During a graceful shutdown: `Quit`, then wait for the client's close until the deadline.
    static func quit() -> Ending {
        Ending(farewell: "Quit", quietPeriod: nil, lingerLimit: nil, discardLimit: .max)
    }

    /// After a send timeout: our side is shut already, the replies are dropped, and what the
    /// client still sends is read and dropped until it has been quiet a moment (one second at
    /// most), so that a client blocked sending meets our FIN before the reset of the close.
    static func cutOff(now: ContinuousClock.Instant) -> Ending {
        let ending = Ending(
            farewell: nil, quietPeriod: .milliseconds(200), lingerLimit: .seconds(1),
            discardLimit: .max)
        ending.farewellQueued = true
        ending.finSent = true
        ending.lingerDeadline = now + .seconds(1)
        ending.quietDeadline = now + .milliseconds(200)
        return ending
    }

    /// The client closed its side: nothing to say, nothing to read, only ACKs to deliver.
    static func peerClosed() -> Ending {
        Ending(farewell: nil, quietPeriod: nil, lingerLimit: nil, discardLimit: 0, peerClosed: true)
    }
}
// end excerpt
