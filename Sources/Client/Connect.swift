import Glibc
import Net

/// Opens a TCP connection to `server`, the client's half of what `Listener` and `accept` do.
///
/// `receiveBuffer` (in bytes) shrinks the socket's receive buffer, so a client that never reads
/// fills up after a few kilobytes of replies instead of a few megabytes. It is set before
/// connecting because the window offered in the handshake depends on it.
///
/// The corresponding C functions are `socket`, `setsockopt` and `connect`.
func connect(to server: Endpoint, receiveBuffer: Int32? = nil) throws(SocketError) -> Connection {
    let address = SocketAddress(host: server.host, port: server.port)
    guard case (var storage, let length)? = socketAddress(server) else {
        throw SocketError("connect \(address)", code: EINVAL)
    }
    let descriptor = try retryOnInterrupt("socket") {
        socket(Int32(storage.ss_family), Int32(SOCK_STREAM.rawValue), 0)
    }
    // Why TCP_NODELAY: a request/reply client sends one short line and waits. Nagle's algorithm
    // would hold a short line back while an earlier one is unacknowledged, adding up to a delayed
    // ACK's 40 ms to a round trip that takes tens of microseconds.
    var on: Int32 = 1
    setsockopt(
        descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
    if var size = receiveBuffer {
        setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    let result = withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            Glibc.connect(descriptor, $0, length)
        }
    }
    // A connect interrupted by a signal goes on in the background and cannot simply be retried;
    // the client installs no handlers, so any failure here is final.
    if result != 0 {
        let code = errno
        close(descriptor)
        throw SocketError("connect \(address)", code: code)
    }
    return Connection(descriptor: descriptor, peer: address)
}

/// The server's address as `connect` wants it, or `nil` when the host is not a numeric IPv4 or
/// IPv6 address. The corresponding C function is `inet_pton`.
private func socketAddress(_ server: Endpoint) -> (sockaddr_storage, socklen_t)? {
    var storage = sockaddr_storage()
    var v4 = sockaddr_in()
    if inet_pton(AF_INET, server.host, &v4.sin_addr) == 1 {
        v4.sin_family = sa_family_t(AF_INET)
        v4.sin_port = server.port.bigEndian
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: v4, as: sockaddr_in.self) }
        return (storage, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
    var v6 = sockaddr_in6()
    if inet_pton(AF_INET6, server.host, &v6.sin6_addr) == 1 {
        v6.sin6_family = sa_family_t(AF_INET6)
        v6.sin6_port = server.port.bigEndian
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: v6, as: sockaddr_in6.self) }
        return (storage, socklen_t(MemoryLayout<sockaddr_in6>.size))
    }
    return nil
}
