import Glibc

/// A listening TCP socket. It is `~Copyable`, so exactly one owner exists and that owner's end
/// closes the descriptor: there is no second copy that could close it twice, or too early.
///
/// A stage that wants to stop listening ends the listener's life (`_ = consume listener`), and the
/// kernel refuses new connections from that moment.
public struct Listener: ~Copyable {
    /// The file descriptor, for `poll` and socket options; the listener still owns it.
    public let descriptor: Int32
    /// The address the kernel actually bound; with port 0 this holds the port it picked.
    public let address: SocketAddress

    /// Creates a socket, binds it to `host:port` and starts listening.
    ///
    /// Port 0 asks the kernel for any free port; `address` tells which one it chose.
    /// The corresponding C functions are `socket`, `setsockopt`, `bind`, `listen` and `getsockname`.
    public init(host: String, port: UInt16) throws(SocketError) {
        let requested = SocketAddress(host: host, port: port)
        guard case (var storage, let length)? = requested.storage() else {
            throw SocketError("bind \(requested)", code: EINVAL)
        }
        let descriptor = try openTCPSocket(for: storage)
        do {
            // excerpt: listen
            // Why SO_REUSEADDR: after a server stops, its old connections linger in TIME_WAIT for a
            // minute; without this option the next run could not bind the same port until they end.
            var on: Int32 = 1
            try retryOnInterrupt("setsockopt SO_REUSEADDR") {
                setsockopt(
                    descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            }
            try retryOnInterrupt("bind \(requested)") {
                withSockaddr(&storage) { Glibc.bind(descriptor, $0, length) }
            }
            // Why SOMAXCONN: the backlog holds connections whose handshake finished but which no
            // accept has taken yet; a long one lets a burst of clients wait, not fail. It is a
            // header constant (4096 in glibc today); Linux caps it at net.core.somaxconn.
            try retryOnInterrupt("listen \(requested)") { Glibc.listen(descriptor, SOMAXCONN) }
            // end excerpt
            self.address = try Self.localAddress(of: descriptor)
        } catch {
            Glibc.close(descriptor)
            throw error
        }
        self.descriptor = descriptor
    }

    /// Like `init`, but a server cannot go on without its socket: on failure this prints
    /// `error: bind 127.0.0.1:9090: Address already in use` (or whatever failed) and exits 1.
    public static func openOrExit(host: String, port: UInt16) -> Listener {
        do {
            return try Listener(host: host, port: port)
        } catch {
            exitWithError(error)
        }
    }

    deinit { Glibc.close(descriptor) }

    /// Takes the next connection whose handshake has completed, waiting for one if there is none
    /// (unless the socket is non-blocking: then it throws an error whose `wouldBlock` is true).
    ///
    /// The corresponding C function is `accept`.
    public func accept() throws(SocketError) -> Connection {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let client = try retryOnInterrupt("accept") {
            withSockaddr(&storage) { Glibc.accept(descriptor, $0, &length) }
        }
        // excerpt: blocking
        // Why clear O_NONBLOCK: the stages poll a non-blocking listener, but serve each client
        // with blocking calls bounded by socket timeouts. Linux never passes the listener's
        // O_NONBLOCK on to the accepted socket; BSD and macOS do, and there every `recv` would
        // fail at once with EAGAIN. Saying which mode we want works everywhere.
        let flags = fcntl(client, F_GETFL)
        if flags != -1 && flags & O_NONBLOCK != 0 {
            _ = fcntl(client, F_SETFL, flags & ~O_NONBLOCK)
        }
        // end excerpt
        // excerpt: nodelay
        // Why TCP_NODELAY: every message here is one small line, sent when it is ready. Nagle's
        // algorithm would hold a small segment back until the previous one is acknowledged, and
        // the peer delays its acknowledgements (Linux: 40 to 200 ms): a chat would crawl.
        var on: Int32 = 1
        setsockopt(
            client, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        // end excerpt
        return Connection(descriptor: client, peer: SocketAddress(storage))
    }

    /// Makes `accept` return at once with `EAGAIN` when no connection is waiting.
    ///
    /// The corresponding C function is `fcntl` with `O_NONBLOCK`.
    public func setNonBlocking() throws(SocketError) {
        let flags = try retryOnInterrupt("fcntl F_GETFL") { fcntl(descriptor, F_GETFL) }
        try retryOnInterrupt("fcntl F_SETFL O_NONBLOCK") {
            fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
        }
    }

    private static func localAddress(of descriptor: Int32) throws(SocketError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        try retryOnInterrupt("getsockname") {
            withSockaddr(&storage) { getsockname(descriptor, $0, &length) }
        }
        return SocketAddress(storage)
    }
}

/// Logs a failed `accept` and pauses a moment before the next one. Some failures last (EMFILE:
/// out of file descriptors, until a client leaves); retrying at once would spin a core and
/// flood the log. The clients already connected are unaffected.
public func reportAcceptFailure(_ error: SocketError) {
    log("accept failed: \(error)")
    usleep(100_000)
}
