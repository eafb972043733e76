import Glibc
import Net
import Testing

@Suite struct AcceptTests {
    /// The stages poll a non-blocking listener and then serve each client with blocking calls.
    /// BSD and macOS pass the listener's O_NONBLOCK on to the accepted socket; `accept` in Net
    /// clears it, so a client socket is blocking wherever the server runs.
    @Test func aConnectionAcceptedFromANonBlockingListenerIsBlocking() throws {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        try listener.setNonBlocking()
        #expect(fcntl(listener.descriptor, F_GETFL) & O_NONBLOCK != 0)
        let client = try Connection.connect(to: listener.address)
        var waiting = pollfd(fd: listener.descriptor, events: Int16(POLLIN), revents: 0)
        #expect(poll(&waiting, 1, 10_000) == 1, "no connection to accept within 10 s")
        let accepted = try listener.accept()
        let flags = fcntl(accepted.descriptor, F_GETFL)
        #expect(flags != -1 && flags & O_NONBLOCK == 0, "flags \(flags), errno \(errno)")
        _ = client
    }
}
