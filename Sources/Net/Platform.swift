import Glibc

// What in Net is particular to Linux, kept here where that is cheap, so that a port to another
// system knows where to start. The workbook runs natively on Linux only; macOS and Windows
// follow it in the dev container (README.md).
//
// Two things stay Linux's elsewhere, on purpose: every file imports `Glibc`, Swift's view of the
// GNU C library (`Darwin` on macOS), and `Connection.sendAll` passes `MSG_NOSIGNAL`, which the
// chapters teach where it is used (macOS has no such flag; the socket option SO_NOSIGPIPE does
// its job there). The companion client reads `/proc`, which only Linux has.

/// Opens a TCP socket for the address family of `storage` (IPv4 or IPv6).
///
/// Glibc imports `SOCK_STREAM` as a Swift enum case; in C, and on macOS, it is a plain number.
/// The corresponding C function is `socket`.
func openTCPSocket(for storage: sockaddr_storage) throws(SocketError) -> Int32 {
    try retryOnInterrupt("socket") {
        socket(Int32(storage.ss_family), Int32(SOCK_STREAM.rawValue), 0)
    }
}
