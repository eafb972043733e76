import Glibc

/// Sends every byte on `descriptor` with blocking sends; false once the connection fails.
///
/// For a test's own thread that keeps sending while the test reads on the same socket, where a
/// `TestClient`, which belongs to one thread, cannot be shared.
public func sendEverything(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
    var sent = 0
    while sent < bytes.count {
        let count = bytes.withUnsafeBytes {
            send(descriptor, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL))
        }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { return false }
        sent += count
    }
    return true
}
