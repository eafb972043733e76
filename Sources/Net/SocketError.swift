import Glibc

/// A failed system call: what was being done, and the `errno` the kernel gave back.
///
/// It prints the way a learner reads it in a terminal, operation first:
/// `bind 127.0.0.1:9090: Address already in use`.
public struct SocketError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What was attempted, with its arguments: `bind 127.0.0.1:9090`, `recv`, `send`.
    public let operation: String
    /// The raw `errno` value, such as `EADDRINUSE` or `ECONNRESET`.
    public let code: Int32

    public init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    /// The kernel's own words for `code`, as `strerror` gives them.
    public var reason: String { String(cString: strerror(code)) }

    public var description: String { "\(operation): \(reason)" }

    /// True when a non-blocking call, or a call under a socket timeout, had nothing to do yet.
    /// Linux gives `EAGAIN` and `EWOULDBLOCK` the same value; checking both costs nothing.
    public var wouldBlock: Bool { code == EAGAIN || code == EWOULDBLOCK }
}

// excerpt: retry-on-interrupt
/// Runs a system call until it is not interrupted by a signal, and turns `-1` into a typed error.
///
/// A blocking call fails with `EINTR` when a signal handler runs while it waits. Nothing went
/// wrong, so the call is made again; every system call in `Net` goes through here.
@discardableResult
public func retryOnInterrupt<Result: FixedWidthInteger>(
    _ operation: @autoclosure () -> String, _ call: () -> Result
) throws(SocketError) -> Result {
    while true {
        let result = call()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SocketError(operation(), code: code)
    }
}
// end excerpt
