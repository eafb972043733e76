import Glibc

/// Opens `/dev/null` on each of the standard descriptors 0, 1 and 2 that is closed.
///
/// A program can be started with one of them closed (`Stage2ThreadPerClient >&-`). The kernel
/// hands out the lowest free number, so the server's first socket or pipe would become
/// descriptor 1, and every `log` line would go to a client's connection, or into Stage 5's
/// shutdown pipe. Daemons such as OpenSSH's do this first thing; `ServerOptions.parseOrExit`
/// does it before anything else is opened. The corresponding C function is `fcntl`.
public func reopenClosedStandardDescriptors() {
    for descriptor in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] {
        // F_GETFD reads the descriptor's flags; it fails with EBADF only if nothing is open there.
        guard fcntl(descriptor, F_GETFD) == -1, errno == EBADF else { continue }
        // `open` returns the lowest free number, which is this one unless another thread has
        // just taken it; then `dup2` puts the copy in its place.
        let opened = open("/dev/null", O_RDWR)
        guard opened != -1 else {
            // No /dev/null (a bare container or chroot): better no server than a leaking log.
            exitWithError(SocketError("open /dev/null", code: errno))
        }
        if opened != descriptor {
            dup2(opened, descriptor)
            close(opened)
        }
    }
}
