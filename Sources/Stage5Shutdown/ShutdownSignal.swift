// Stage5Shutdown: part of the stage explained in docs/05-shutdown.md; main.swift is where it starts.
import Glibc
import Net
import Synchronization

// excerpt: handler
/// The write end of the shutdown pipe. Set once, before any handler is installed, and only read
/// after that: by the handler, which may run on any thread at any moment.
nonisolated(unsafe) private var wakeDescriptor: Int32 = -1
/// How many shutdown signals have arrived. Lock-free, so the handler may touch it.
private let signalCount = Atomic<Int>(0)

/// Runs when SIGINT or SIGTERM arrives, on whichever thread the kernel picked, between any two
/// instructions of it. That thread may hold a lock (inside `malloc`, inside `log`), so the
/// handler may only call what POSIX names async-signal-safe: no allocation, no locks, no
/// printing. It records the signal, writes one byte into the pipe, and returns.
private func onShutdownSignal(_ signal: Int32) {
    let savedErrno = errno  // `write` may change errno under the interrupted code's feet.
    if signalCount.add(1, ordering: .sequentiallyConsistent).newValue > 1 {
        // A second signal while shutting down: the person means it. Die of that signal, as if
        // there were no handler, so the parent sees "killed by SIGINT" and not an exit status
        // (a script stops, a service manager logs the signal). `_exit(130)` would only imitate
        // what a shell prints. The signal stays blocked while its handler runs: the raised one
        // waits, and the default action ends the process as soon as this function returns.
        Glibc.signal(signal, SIG_DFL)
        raise(signal)
        return
    }
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(wakeDescriptor, &byte, 1)
    errno = savedErrno
}
// end excerpt

// excerpt: self-pipe
/// The self-pipe: a signal handler writes into it, the accept loop polls its read end.
///
/// There is one per process, made by `install()`, which must run before any other thread starts.
struct ShutdownSignal: ~Copyable {
    /// The read end, which becomes readable once a shutdown signal has arrived.
    let descriptor: Int32

    static func install() -> ShutdownSignal {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { exitWithError(SocketError("pipe", code: errno)) }
        // Non-blocking, so that a handler never waits on a full pipe (it would wait forever).
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
        wakeDescriptor = ends[1]
        _ = signalCount.load(ordering: .relaxed)  // Initialised now, not first inside a handler.

        var action = sigaction()
        action.__sigaction_handler.sa_handler = onShutdownSignal
        sigemptyset(&action.sa_mask)
        // SA_RESTART: many calls the signal interrupts carry on by themselves instead of failing
        // with EINTR. Not all: `poll` never restarts, nor does `recv` or `send` on a socket with
        // a timeout (SO_RCVTIMEO, SO_SNDTIMEO), as every client socket here has. Those return
        // EINTR, and `retryOnInterrupt` in Net makes them again.
        action.sa_flags = SA_RESTART
        for signal in [SIGINT, SIGTERM] {
            // A signal that arrives ignored stays ignored: the convention every Unix program
            // follows. A shell starts background jobs with SIGINT ignored on purpose, so that a
            // Ctrl-C meant for the foreground does not stop them; `kill -TERM` still works.
            var inherited = sigaction()
            sigaction(signal, nil, &inherited)
            if isIgnored(inherited) { continue }
            sigaction(signal, &action, nil)
        }
        // A process inherits its parent's blocked signals; a blocked signal is never delivered.
        // Unblocked here, in the main thread, before the threads that inherit this mask exist.
        unblockSignals([SIGINT, SIGTERM])
        return ShutdownSignal(descriptor: ends[0])
    }
}
// end excerpt

/// True when `action` is "ignore" (`SIG_IGN`), the only way to tell a handler from it being a
/// comparison of function pointers.
private func isIgnored(_ action: sigaction) -> Bool {
    unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self)
        == unsafeBitCast(SIG_IGN, to: Int.self)
}
