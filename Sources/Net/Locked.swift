import Foundation

/// A value that one thread at a time may use: every read and write goes through `withLock`.
///
/// The lock is scoped to a closure, so it cannot be left held by an early `return` or a thrown
/// error, and the value cannot be reached without it.
///
/// Why not `Mutex` from the Synchronization module: when two threads contend for it, it hands
/// the lock over inside the kernel (a futex), out of sight of ThreadSanitizer, which then reports
/// races that cannot happen. `NSLock` is a pthread mutex, which the sanitizer understands, so
/// `swift test --sanitize=thread` reports only real races.
public final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    /// Touched only between `lock.lock()` and `lock.unlock()`: that is the `@unchecked` promise.
    private var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with the value while holding the lock, and returns what `body` returns.
    public func withLock<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
