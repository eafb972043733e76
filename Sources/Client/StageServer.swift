import Foundation
import Glibc
import Net
import Synchronization

/// Why a measurement could not be made: the stage did not start, or a reply never came.
struct MeasureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A built stage running as a child process on a free port, started and stopped by `measure`.
///
/// The tests have a class like it (`ServerProcess` in Tests/TestSupport), written apart on
/// purpose: the tests share no code with the client they check.
///
/// Every line the server prints is read by a thread of its own and kept. Reading is not
/// optional: a server logs each message, and once the pipe's 64 KiB are full its next log line
/// would block it, and the measurement with it.
final class StageServer: Sendable {
    let name: String
    let port: UInt16
    private let process: Process
    private let output = CollectedLines()
    private let errors = CollectedLines()
    /// Signalled once, when the process exits.
    private let exited = DispatchSemaphore(value: 0)

    /// Starts `name` from `directory` with `--port 0` and `arguments`, and waits (up to five
    /// seconds) for its `listening on HOST:PORT` line.
    init(_ name: String, in directory: URL, arguments: [String]) throws {
        self.name = name
        process = Process()
        process.executableURL = directory.appendingPathComponent(name)
        process.arguments = ["--port", "0"] + arguments
        process.standardInput = FileHandle.nullDevice
        let (outPipe, errorPipe) = (Pipe(), Pipe())
        process.standardOutput = outPipe
        process.standardError = errorPipe
        process.terminationHandler = { [exited] _ in exited.signal() }
        try process.run()
        runningServer.store(process.processIdentifier, ordering: .sequentiallyConsistent)
        output.collect(from: outPipe.fileHandleForReading)
        errors.collect(from: errorPipe.fileHandleForReading)

        let first = output.waitForLine(until: .now + .seconds(5)) { _ in true }
        guard let first, first.hasPrefix("listening on "),
            let port = first.split(separator: ":").last.flatMap({ UInt16($0) })
        else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            runningServer.store(0, ordering: .sequentiallyConsistent)
            let said = output.lines + errors.lines
            throw MeasureError(
                "\(name) did not print 'listening on HOST:PORT'; it printed \(said)")
        }
        self.port = port
    }

    var pid: Int32 { process.processIdentifier }
    var address: SocketAddress { SocketAddress(host: "127.0.0.1", port: port) }

    /// Waits for a line the server prints that `matches` accepts; `nil` at the deadline.
    @discardableResult
    func waitForLine(
        until deadline: ContinuousClock.Instant, where matches: (String) -> Bool
    ) -> String? {
        output.waitForLine(until: deadline, where: matches)
    }

    /// Waits until the server has logged that it accepted `client-N`.
    func waitForClient(_ number: Int, until deadline: ContinuousClock.Instant) throws {
        let accepted = waitForLine(until: deadline) { $0.hasPrefix("[client-\(number)] connected") }
        if accepted == nil { throw MeasureError("\(name) did not accept client-\(number)") }
    }

    /// CPU time the server has used so far, user and system, in seconds: fields 14 and 15 of
    /// `/proc/PID/stat`, which count clock ticks.
    func cpuSeconds() throws -> Double {
        let stat = try proc("stat")
        guard let close = stat.lastIndex(of: ")") else {
            throw MeasureError("unexpected /proc/\(pid)/stat")
        }
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else {
            throw MeasureError("unexpected /proc/\(pid)/stat")
        }
        return Double(user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A number from `/proc/PID/status`, such as `Threads` or `VmRSS` (in kB).
    func status(_ field: String) throws -> Int {
        for line in try proc("status").split(separator: "\n") where line.hasPrefix(field + ":") {
            let words = line.dropFirst(field.count + 1).split(whereSeparator: \.isWhitespace)
            if let value = words.first.flatMap({ Int($0) }) { return value }
        }
        throw MeasureError("no \(field) in /proc/\(pid)/status")
    }

    /// The text of the file `name` in `/proc/PID/`, the kernel's view of the server process.
    private func proc(_ name: String) throws -> String {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/\(name)", encoding: .utf8) else {
            throw MeasureError("cannot read /proc/\(pid)/\(name)")
        }
        return text
    }

    /// The server's thread count once it has stopped changing: the same for 100 ms in a row
    /// (or whatever it is after two seconds). A thread is started just after its client's
    /// `connected` line is logged, so right after that line the count may still be rising.
    func settledThreadCount() throws -> Int {
        let deadline = ContinuousClock.now + .seconds(2)
        var (count, since) = (try status("Threads"), ContinuousClock.now)
        while ContinuousClock.now - since < .milliseconds(100) && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
            let now = try status("Threads")
            if now != count { (count, since) = (now, ContinuousClock.now) }
        }
        return count
    }

    /// Sends the server a signal, such as SIGINT.
    func signal(_ number: Int32) {
        kill(pid, number)
    }

    /// Waits for the server to exit, up to `timeout` seconds, and kills it if it is still running
    /// then. Returns its exit status, or `nil` when it died of a signal (as Stages 1 to 4 do on
    /// SIGINT) or had to be killed.
    func waitForExit(timeout: Double) -> Int32? {
        guard exited.wait(timeout: .now() + timeout) == .success else {
            stop()
            return nil
        }
        process.waitUntilExit()
        runningServer.store(0, ordering: .sequentiallyConsistent)
        return process.terminationReason == .exit ? process.terminationStatus : nil
    }

    /// Kills the server (SIGKILL: nothing it could do would matter) and waits until it is gone.
    func stop() {
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        runningServer.store(0, ordering: .sequentiallyConsistent)
    }
}

/// The process ID of the server running now, 0 when none is: `measure` runs one at a time.
/// Atomic, because the Ctrl-C handler reads it at any moment, on any thread.
private let runningServer = Atomic<Int32>(0)

/// Makes Ctrl-C during `measure` kill the server being measured before the client exits, so a
/// measurement cut short leaves nothing behind. The handler may only make async-signal-safe
/// calls: an atomic load, `kill` and `_exit` are.
///
/// It also makes sure the servers can receive SIGINT at all. A child inherits its parent's
/// blocked signals, and an ignored signal stays ignored across `exec`: started from a program
/// that blocks or ignores SIGINT (a test runner, a shell script's `&`), Stages 1 to 4 would
/// shrug it off. A handled signal is reset to its default in the child, and unblocking it here,
/// on the thread that starts the servers, unblocks it for them.
func killServerOnInterrupt() {
    _ = runningServer.load(ordering: .relaxed)  // Initialised now, not first inside a handler.
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { signal in
        let pid = runningServer.load(ordering: .sequentiallyConsistent)
        if pid > 0 { kill(pid, SIGKILL) }
        _exit(128 + signal)
    }
    sigemptyset(&action.sa_mask)
    sigaction(SIGINT, &action, nil)
    sigaction(SIGTERM, &action, nil)
    unblockSignals([SIGINT, SIGTERM])
}

/// Lines read from a child's pipe by a thread of its own, with a way to wait for one.
/// Every stored property is touched only while `changed` is locked.
private final class CollectedLines: @unchecked Sendable {
    private var collected: [String] = []
    private var ended = false
    private let changed = NSCondition()

    func collect(from handle: FileHandle) {
        Thread { [self] in
            var pending: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = read(handle.fileDescriptor, &chunk, chunk.count)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                pending.append(contentsOf: chunk[..<count])
                guard let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) else { continue }
                let complete = pending[..<lastNewline].split(
                    separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
                let lines = complete.map { String(decoding: $0, as: UTF8.self) }
                pending.removeSubrange(...lastNewline)
                changed.withLock {
                    collected.append(contentsOf: lines)
                    changed.broadcast()
                }
            }
            changed.withLock {
                ended = true
                changed.broadcast()
            }
        }.start()
    }

    /// Every line so far.
    var lines: [String] { changed.withLock { collected } }

    func waitForLine(
        until deadline: ContinuousClock.Instant, where matches: (String) -> Bool
    ) -> String? {
        let wallDeadline = Date() + (deadline - .now).seconds
        return changed.withLock {
            var checked = 0
            while true {
                while checked < collected.count {
                    if matches(collected[checked]) { return collected[checked] }
                    checked += 1
                }
                if ended || !changed.wait(until: wallDeadline) { return nil }
            }
        }
    }
}
