import Foundation

/// A client socket for tests, written straight on the C calls so that it shares no code with the
/// servers it checks. Every read has a deadline.
public final class TestClient {
    public let descriptor: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    /// Connects to `127.0.0.1:port`. A small `receiveBuffer` (in bytes) makes a client that does
    /// not read fill up after a few replies instead of a few megabytes.
    /// A small `sendBuffer` keeps a large send in flight until the server has read it, the way
    /// `nc` keeps writing a large paste.
    public init(
        port: UInt16, host: String = "127.0.0.1", receiveBuffer: Int32? = nil,
        sendBuffer: Int32? = nil
    ) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestFailure("socket: errno \(errno)") }
        // Set before connecting: the window offered in the handshake depends on them.
        for (option, size) in [(SO_RCVBUF, receiveBuffer), (SO_SNDBUF, sendBuffer)] {
            guard var size else { continue }
            setsockopt(descriptor, SOL_SOCKET, option, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw TestFailure("connect to port \(port): \(String(cString: strerror(code)))")
        }
        // A send that cannot finish (the server stopped reading) fails the test instead of
        // hanging it.
        var timeout = timeval(tv_sec: Int(defaultTimeout.components.seconds), tv_usec: 0)
        setsockopt(
            descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close() }

    /// The port the kernel gave our end, as the server logs it: `connected from 127.0.0.1:PORT`.
    public var localPort: UInt16 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getsockname(descriptor, $0, &length)
            }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    /// Sends `text` and a newline.
    public func send(_ text: String) throws {
        try send(bytes: Array(text.utf8) + [10])
    }

    /// Sends these exact bytes.
    public func send(bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let result = bytes.withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL))
            }
            guard result > 0 else { throw TestFailure("send: \(String(cString: strerror(errno)))") }
            sent += result
        }
    }

    /// Sends `line` over and over without reading anything back, until the server stops taking
    /// it (no room comes for `patience`: its buffers, and ours, are full), or `limit` bytes, or
    /// for at most `duration`. Returns how many bytes were sent.
    @discardableResult
    public func flood(
        _ line: String, limit: Int = 16 << 20, for duration: Duration? = nil,
        patience: Duration = .milliseconds(200)
    ) -> Int {
        let chunk = Array(String(repeating: line + "\n", count: 512).utf8)
        let end = duration.map { ContinuousClock.now + $0 }
        var total = 0
        while total < limit, end.map({ ContinuousClock.now < $0 }) ?? true {
            // A send may take part of the chunk: the next one goes on from there, so every line
            // arrives whole.
            let offset = total % chunk.count
            let result = chunk.withUnsafeBytes {
                Glibc.send(
                    descriptor, $0.baseAddress! + offset, $0.count - offset,
                    Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if result > 0 {
                total += result
                continue
            }
            guard errno == EAGAIN else { break }
            // Full for now: wait a little for room. If none comes, the server has stopped reading.
            var writable = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            let milliseconds =
                patience.components.seconds * 1000
                + patience.components.attoseconds / 1_000_000_000_000_000
            if poll(&writable, 1, Int32(milliseconds)) <= 0 { break }
        }
        return total
    }

    /// The next line the server sent, without its newline.
    public func readLine(timeout: Duration = defaultTimeout) throws -> String {
        String(decoding: try readLineBytes(timeout: timeout), as: UTF8.self)
    }

    /// The next `count` lines.
    public func readLines(_ count: Int, timeout: Duration = defaultTimeout) throws -> [String] {
        try (0..<count).map { _ in try readLine(timeout: timeout) }
    }

    /// The next line as raw bytes.
    public func readLineBytes(timeout: Duration = defaultTimeout) throws -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                let line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                return line
            }
            guard try fill(until: deadline) else {
                throw TestFailure("connection closed before a full line; pending: \(pendingText)")
            }
        }
    }

    /// Reads every remaining line until the server closes the connection, then ends our side
    /// too, as `nc` and the companion client do: a server that waits for its clients to close
    /// (a lingering close) sees it.
    public func readUntilClosed(timeout: Duration = defaultTimeout) throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        while try fill(until: deadline) {}
        Glibc.shutdown(descriptor, Int32(SHUT_WR))
        let text = String(decoding: buffer, as: UTF8.self)
        buffer.removeAll()
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(
            String.init)
    }

    /// True when the server has closed the connection (or reset it) within the deadline, after
    /// any lines still in flight were read.
    public func isClosedByServer(timeout: Duration = defaultTimeout) -> Bool {
        (try? readUntilClosed(timeout: timeout)) != nil
    }

    /// True if bytes are waiting to be read right now. It does not wait: call it after something
    /// that proves the server had its chance to send (a reply on another connection, a log line).
    public var hasPendingData: Bool {
        if !buffer.isEmpty { return true }
        var probe: UInt8 = 0
        return recv(descriptor, &probe, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) > 0
    }

    /// What has arrived and not been read yet, without waiting: empty when nothing has. For a
    /// check that nothing came, so that a failure shows what did.
    public var unreadText: String {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(descriptor, &chunk, chunk.count, Int32(MSG_PEEK | MSG_DONTWAIT))
        return pendingText + String(decoding: chunk[..<max(count, 0)], as: UTF8.self)
    }

    /// Closes our sending side only: the server reads end of file, we can still read.
    public func shutdownWrite() {
        Glibc.shutdown(descriptor, Int32(SHUT_WR))
    }

    /// Closes with a reset (RST) instead of a normal close (FIN).
    public func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(
            descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }

    public func close() {
        if !closed {
            closed = true
            Glibc.close(descriptor)
        }
    }

    private var pendingText: String { String(decoding: buffer, as: UTF8.self) }

    /// Reads what has arrived into `buffer`; false at end of file or reset.
    private func fill(until deadline: ContinuousClock.Instant) throws -> Bool {
        var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let left = deadline - .now
        let milliseconds = max(
            0,
            Int32(
                left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
            ))
        let ready = poll(&waiting, 1, milliseconds)
        guard ready > 0 else {
            throw TestFailure("nothing arrived in time; pending: '\(pendingText)'")
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(descriptor, &chunk, chunk.count, 0)
        if count <= 0 { return false }
        buffer.append(contentsOf: chunk[..<count])
        return true
    }
}
