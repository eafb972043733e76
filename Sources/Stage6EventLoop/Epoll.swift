// Stage6EventLoop: part of the stage explained in docs/07-event-loop.md; main.swift is where it starts.
import CEpoll
import Glibc
import Net

// Everything Linux-specific in Stage 6 is in this file: `epoll` to wait for many sockets at once,
// `eventfd` for another thread to wake the loop, and a thread's name for `ps`. The rest of the stage speaks of `Interest`,
// tokens and `Wakeup`, so moving it to BSD's `kqueue` would mean rewriting this file only.

/// What the loop wants to hear about a descriptor.
struct Interest: OptionSet, Sendable {
    let rawValue: UInt32

    /// Bytes have arrived, or the peer closed (a read returns 0), or an accept is waiting.
    static let readable = Interest(rawValue: EPOLLIN.rawValue)
    /// There is room in the socket's send buffer again.
    static let writable = Interest(rawValue: EPOLLOUT.rawValue)
}

/// What `epoll_wait` reported for one descriptor.
struct Readiness {
    let events: UInt32

    var readable: Bool { events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue) != 0 }
    var writable: Bool { events & EPOLLOUT.rawValue != 0 }
    /// An error or a hang-up. The kernel reports these whatever the interest, even none.
    var failed: Bool { events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 }
}

// excerpt: epoll
/// One epoll instance: the kernel keeps the list of watched descriptors, so each wait costs
/// the number of ready ones, not the number watched. That is what lets one thread sleep on
/// ten thousand idle connections. The corresponding C functions are `epoll_create1`,
/// `epoll_ctl` and `epoll_wait`.
///
/// Level-triggered (the default): a descriptor is reported on every wait for as long as it is
/// ready, so the loop may read a little from each client per turn and come back for the rest.
struct Epoll: ~Copyable {
    let descriptor: Int32
    /// Where `epoll_wait` writes what is ready, up to `capacity` descriptors per wait.
    private let events: UnsafeMutablePointer<epoll_event>
    private let capacity: Int32

    init(capacity: Int32 = 1024) throws(SocketError) {
        descriptor = try retryOnInterrupt("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        self.capacity = capacity
        events = .allocate(capacity: Int(capacity))
    }

    deinit {
        Glibc.close(descriptor)
        events.deallocate()
    }

    /// Starts watching `socket`; each wait reports it by `token`.
    func add(_ socket: Int32, token: UInt64, for interest: Interest) throws(SocketError) {
        try control(EPOLL_CTL_ADD, socket, token: token, interest: interest)
    }

    /// Changes what `socket` is watched for; an empty interest still reports errors.
    func change(_ socket: Int32, token: UInt64, to interest: Interest) throws(SocketError) {
        try control(EPOLL_CTL_MOD, socket, token: token, interest: interest)
    }

    /// Stops watching `socket`. Closing the socket does this too.
    func remove(_ socket: Int32) {
        _ = epoll_ctl(descriptor, EPOLL_CTL_DEL, socket, nil)
    }

    /// Sleeps until a watched descriptor is ready or `milliseconds` pass (-1: no limit), then
    /// calls `body` with the token and readiness of each ready one.
    func wait(milliseconds: Int32, _ body: (UInt64, Readiness) -> Void) {
        let ready = epoll_wait(descriptor, events, capacity, milliseconds)
        // -1 is EINTR: a signal arrived. Nothing is ready yet; the caller waits again.
        guard ready > 0 else { return }
        for index in 0..<Int(ready) {
            body(events[index].data.u64, Readiness(events: events[index].events))
        }
    }

    private func control(
        _ operation: Int32, _ socket: Int32, token: UInt64, interest: Interest
    ) throws(SocketError) {
        var event = epoll_event(events: interest.rawValue, data: epoll_data_t(u64: token))
        try retryOnInterrupt("epoll_ctl") { epoll_ctl(descriptor, operation, socket, &event) }
    }
}
// end excerpt

// excerpt: wakeup
/// A counter in the kernel that another thread adds to, to wake the loop: `eventfd`. The loop
/// watches it like a socket; it becomes readable when the count is above zero, and reading it
/// sets the count back to zero. The corresponding C function is `eventfd`.
struct Wakeup: Sendable {
    let descriptor: Int32

    init() throws(SocketError) {
        descriptor = try retryOnInterrupt("eventfd") {
            eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        }
    }

    /// Wakes the loop. Safe from any thread.
    func signal() {
        var one: UInt64 = 1
        _ = write(descriptor, &one, 8)
    }

    /// Called by the loop once woken, so the next wait sleeps again.
    func reset() {
        var count: UInt64 = 0
        _ = read(descriptor, &count, 8)
    }
}
// end excerpt

/// Gives the calling thread a name the kernel shows (`ps -T`, /proc/PID/task/TID/comm).
///
/// Why not `Thread.current.name`: Foundation passes the name to the kernel only if the new
/// thread runs after `start()` has returned in the thread that started it, and a thread that
/// begins at once often runs first. Writing the name into /proc/thread-self works every time.
func nameThisThread(_ name: String) {
    let descriptor = open("/proc/thread-self/comm", O_WRONLY)
    guard descriptor >= 0 else { return }
    _ = Array(name.utf8).withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    close(descriptor)
}
