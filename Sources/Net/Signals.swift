import Glibc

/// Lets `signals` reach the calling thread, and every thread it starts from now on.
///
/// A process inherits its parent's blocked signals, and a blocked signal is never delivered: a
/// server started by a program that blocks SIGINT would never see Ctrl-C. The mask is per
/// thread and new threads copy it, so call this on the main thread before starting others.
/// The corresponding C function is `pthread_sigmask`.
public func unblockSignals(_ signals: [Int32]) {
    var set = sigset_t()
    sigemptyset(&set)
    for signal in signals { sigaddset(&set, signal) }
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}
