import Glibc
import Net

/// Linux's `epoll`: one thread sleeps until any of many sockets has something to read.
///
/// `poll`, which Stage 4 uses for one socket, is handed the whole list of descriptors on every
/// call and checks each one. An epoll instance keeps the list inside the kernel instead: sockets
/// are added once, and each wait returns only the ones that are ready. With a hundred
/// connections and a message in flight on each, that is the difference that keeps one thread
/// ahead of the server it measures.
///
/// Swift's `Glibc` module leaves `<sys/epoll.h>` out, so the three functions are looked up by
/// name in the C library the process has already loaded (`dlsym`) and called through C function
/// pointers: the same functions, at the same cost, a C program would call.
struct EventPoll: ~Copyable {
    /// What a wait reports for each ready descriptor: the token it was added with.
    typealias Token = UInt32

    private typealias Create = @convention(c) (Int32) -> Int32
    private typealias Control =
        @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) ->
        Int32
    private typealias Wait =
        @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) ->
        Int32

    // From <sys/epoll.h>, which Swift cannot see.
    private static let readable: UInt32 = 0x001  // EPOLLIN
    private static let peerClosed: UInt32 = 0x2000  // EPOLLRDHUP
    private static let add: Int32 = 1  // EPOLL_CTL_ADD
    private static let remove: Int32 = 2  // EPOLL_CTL_DEL

    /// `struct epoll_event` is a 32-bit event mask and a 64-bit user value. On x86-64 the kernel
    /// declares it packed (12 bytes, the value at offset 4); elsewhere it has natural alignment.
    #if arch(x86_64)
        private static let eventSize = 12
        private static let dataOffset = 4
    #else
        private static let eventSize = 16
        private static let dataOffset = 8
    #endif

    let descriptor: Int32
    private let epollControl: Control
    private let epollWait: Wait
    /// Where `wait` writes the ready events; room for `capacity` at a time.
    private let events: UnsafeMutableRawPointer
    private let capacity: Int32

    init(capacity: Int32 = 256) throws(SocketError) {
        // `nil` opens the program itself, and so every library it has loaded: the C library too.
        let library = dlopen(nil, RTLD_NOW)
        guard let create = dlsym(library, "epoll_create1"),
            let control = dlsym(library, "epoll_ctl"),
            let wait = dlsym(library, "epoll_wait")
        else {
            throw SocketError("dlsym epoll", code: ENOSYS)
        }
        let createInstance = unsafeBitCast(create, to: Create.self)
        descriptor = try retryOnInterrupt("epoll_create1") { createInstance(O_CLOEXEC) }
        epollControl = unsafeBitCast(control, to: Control.self)
        epollWait = unsafeBitCast(wait, to: Wait.self)
        self.capacity = capacity
        events = UnsafeMutableRawPointer.allocate(
            byteCount: Self.eventSize * Int(capacity), alignment: 8)
    }

    deinit {
        Glibc.close(descriptor)
        events.deallocate()
    }

    /// Watches `socket` for data to read (or its peer closing); a wait reports it as `token`.
    /// The corresponding C function is `epoll_ctl` with `EPOLL_CTL_ADD`.
    func watch(_ socket: Int32, as token: Token) throws(SocketError) {
        var event = [UInt8](repeating: 0, count: Self.eventSize)
        event.withUnsafeMutableBytes {
            $0.storeBytes(of: Self.readable | Self.peerClosed, as: UInt32.self)
            $0.storeBytes(of: UInt64(token), toByteOffset: Self.dataOffset, as: UInt64.self)
        }
        try retryOnInterrupt("epoll_ctl") {
            event.withUnsafeMutableBytes {
                epollControl(descriptor, Self.add, socket, $0.baseAddress)
            }
        }
    }

    /// Stops watching `socket`. Closing a socket stops it too; this is for one kept open.
    func unwatch(_ socket: Int32) {
        _ = epollControl(descriptor, Self.remove, socket, nil)
    }

    /// Sleeps until at least one watched socket is ready or `milliseconds` pass, then calls
    /// `body` with the token of each ready one. Returns how many were ready.
    /// The corresponding C function is `epoll_wait`.
    @discardableResult
    func wait(milliseconds: Int32, _ body: (Token) -> Void) -> Int {
        let ready = epollWait(descriptor, events, capacity, milliseconds)
        // -1 is EINTR (a signal arrived): nothing is ready yet, and the caller waits again.
        guard ready > 0 else { return 0 }
        for index in 0..<Int(ready) {
            let offset = index * Self.eventSize + Self.dataOffset
            body(
                Token(
                    truncatingIfNeeded: events.loadUnaligned(
                        fromByteOffset: offset, as: UInt64.self)))
        }
        return Int(ready)
    }
}
