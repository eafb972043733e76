import Foundation
import Glibc
import Net
import Testing

@Suite struct SocketTests {
    @Test func errorsReadLikeTheTerminal() {
        let error = SocketError("bind 127.0.0.1:9090", code: EADDRINUSE)
        #expect("\(error)" == "bind 127.0.0.1:9090: Address already in use")
        #expect(SocketError("recv", code: EAGAIN).wouldBlock)
        #expect(!SocketError("recv", code: ECONNRESET).wouldBlock)
    }

    @Test func retryOnInterruptRetriesOnlyEINTR() throws {
        var calls = 0
        let result = try retryOnInterrupt("test") { () -> Int32 in
            calls += 1
            if calls < 3 {
                errno = EINTR
                return -1
            }
            return 42
        }
        #expect(result == 42)
        #expect(calls == 3)
        #expect(throws: SocketError("test", code: EBADF)) {
            try retryOnInterrupt("test") { () -> Int32 in
                errno = EBADF
                return -1
            }
        }
    }

    @Test func portZeroIsReplacedByTheRealPort() throws {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        #expect(listener.address.port != 0)
        #expect(listener.address.host == "127.0.0.1")
    }

    @Test func ipv6AddressesPrintWithBrackets() throws {
        #expect("\(SocketAddress(host: "::1", port: 80))" == "[::1]:80")
        #expect("\(SocketAddress(host: "10.0.0.1", port: 80))" == "10.0.0.1:80")
    }

    @Test func connectingWhereNobodyListensIsRefused() throws {
        // Bind a port, then let it go: now nothing listens there.
        let port = try Listener(host: "127.0.0.1", port: 0).address.port
        #expect(throws: SocketError("connect 127.0.0.1:\(port)", code: ECONNREFUSED)) {
            _ = try Connection.connect(to: SocketAddress(host: "127.0.0.1", port: port))
        }
    }

    @Test func aBusyPortIsAddressInUse() throws {
        let first = try Listener(host: "127.0.0.1", port: 0)
        let port = first.address.port
        #expect(throws: SocketError("bind 127.0.0.1:\(port)", code: EADDRINUSE)) {
            _ = try Listener(host: "127.0.0.1", port: port)
        }
    }

    /// Sends more than the socket buffers hold while the peer reads slowly, so `send` must take
    /// partial writes; every byte arrives, in order.
    @Test func sendAllDeliversEveryByteThroughPartialSends() throws {
        let (ours, theirs) = try connectedPair()
        let payload = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let collected = Collected()
        Thread {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while let count = try? theirs.receive(into: &chunk), count > 0 {
                collected.bytes.withLock { $0.append(contentsOf: chunk[..<count]) }
            }
            collected.done.signal()
        }.start()
        try ours.sendAll(payload)
        ours.shutdownWrite()
        #expect(collected.done.wait(timeout: .now() + 10) == .success)
        #expect(collected.bytes.withLock { $0 } == payload)
    }

    /// With a send timeout, one `send` to a peer that has stopped reading takes part of the bytes
    /// and returns when the timeout passes. `sendAll` goes on with the rest, so it fails with
    /// EAGAIN instead of returning as though everything had been sent.
    @Test func sendAllToAPeerThatNeverReadsFailsAtTheSendTimeout() throws {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        // A small receive buffer: the peer's side fills after a few kilobytes.
        let peer = try Connection.connect(to: listener.address, receiveBuffer: 4096)
        let ours = try listener.accept()
        try ours.setSendTimeout(0.1)
        // More than our send buffer and the peer's receive buffer can ever hold together.
        let payload = [UInt8](repeating: 7, count: 16 << 20)
        #expect(throws: SocketError("send", code: EAGAIN)) { try ours.sendAll(payload) }
        withExtendedLifetime(peer) {}  // Open, and never read, until here.
    }

    @Test func sendingToAVanishedPeerIsAnErrorNotSIGPIPE() throws {
        let (ours, theirs) = try connectedPair()
        theirs.shutdown()
        _ = consume theirs
        // The first send may still be accepted; a later one must fail with EPIPE or ECONNRESET.
        var failure: SocketError?
        for _ in 0..<100 where failure == nil {
            do throws(SocketError) { try ours.sendAll([UInt8](repeating: 1, count: 1024)) } catch {
                failure = error
            }
        }
        let code = try #require(failure).code
        #expect(code == EPIPE || code == ECONNRESET)
    }

    @Test func aReceiveTimeoutEndsAWaitWithWouldBlock() throws {
        let (ours, theirs) = try connectedPair()
        try ours.setReceiveTimeout(0.05)
        var chunk = [UInt8](repeating: 0, count: 16)
        #expect(throws: SocketError("recv", code: EAGAIN)) { _ = try ours.receive(into: &chunk) }
        withExtendedLifetime(theirs) {}  // Open until here, so the wait ends by timeout, not EOF.
    }

    @Test func lineReaderSkipsEmptyLinesAndDropsAnUnfinishedLastLine() throws {
        let (ours, theirs) = try connectedPair()
        try theirs.sendAll(Array("\n\r\nfirst\r\nsecond\nunfinished".utf8))
        theirs.shutdownWrite()
        var reader = LineReader(ours)
        let lines = try (0..<3).map { _ in
            try reader.readLine().map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(lines == ["first", "second", nil])
    }

    @Test func lineReaderDeadlineCoversTheWholeLine() throws {
        let (ours, theirs) = try connectedPair()
        try theirs.sendAll(Array("par".utf8))
        var reader = LineReader(ours)
        #expect(throws: LineReader.Failure.timedOut) {
            try reader.readLine(deadline: .now + .milliseconds(50))
        }
        withExtendedLifetime(theirs) {}
    }
}

/// A connected pair of TCP sockets over loopback.
func connectedPair() throws -> (Connection, Connection) {
    let listener = try Listener(host: "127.0.0.1", port: 0)
    let client = try Connection.connect(to: listener.address)
    return (client, try listener.accept())
}

/// What a reader thread received, and a signal for when it saw end of file.
final class Collected: Sendable {
    let bytes = Locked<[UInt8]>([])
    let done = DispatchSemaphore(value: 0)
}
