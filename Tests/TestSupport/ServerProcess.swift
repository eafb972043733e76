import Foundation
import Testing

/// Why a test could not go on: the message says what was awaited and what was seen instead.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The deadline every wait in the tests uses unless it names its own: long enough for a loaded
/// CI machine, short enough that a broken server fails the test instead of hanging it.
public let defaultTimeout: Duration = .seconds(10)

/// A built stage running as a child process, with its stdout and stderr collected line by line.
public final class ServerProcess: Sendable {
    public let name: String
    private let process: Process
    private let output: OutputLog
    private let errors: OutputLog
    /// Signalled once when the child exits.
    private let exited: DispatchSemaphore
    /// The port from the `listening on HOST:PORT` line.
    public let port: UInt16

    /// Where `swift build` and `swift test` put the executables.
    public static var binaryDirectory: URL {
        if let override = ProcessInfo.processInfo.environment["WORKBOOK_BIN_DIR"] {
            return URL(fileURLWithPath: override)
        }
        return Bundle.main.bundleURL
    }

    /// Starts `name` (such as `Stage1SingleThread`) and waits for its `listening on` line.
    /// `--port 0` is added unless the arguments name a port.
    ///
    /// With `shellCommands`, `/bin/sh` runs those first and then becomes the server (`exec`, so
    /// the process id stays the same): `trap '' INT` starts the server with SIGINT ignored, as a
    /// shell's background job is. With `redirections`, the shell applies them as it becomes the
    /// server: `<&- >&-` starts it with standard input and output closed. Its log may then have
    /// nowhere to go, so the port is found in `/proc` (`listeningPort(ofProcess:)`), and a test
    /// that can read the log checks the `listening on` line itself.
    public static func launch(
        _ name: String, _ arguments: [String] = [], afterShellCommands shellCommands: String? = nil,
        redirections: String? = nil
    ) throws -> ServerProcess {
        try Stage.skipUnlessTested(name)
        let withPort = arguments.contains("--port") ? arguments : ["--port", "0"] + arguments
        let server = try ServerProcess(
            name: name, arguments: withPort, shellCommands: shellCommands,
            redirections: redirections)
        return server
    }

    private init(
        name: String, arguments: [String], shellCommands: String?, redirections: String?
    ) throws {
        self.name = name
        let (process, output, errors) = (Process(), OutputLog(), OutputLog())
        let exited = DispatchSemaphore(value: 0)
        (self.output, self.errors, self.exited) = (output, errors, exited)
        let executable = Self.binaryDirectory.appendingPathComponent(name)
        if shellCommands != nil || redirections != nil {
            let before = shellCommands.map { "\($0); " } ?? ""
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments =
                ["-c", "\(before)exec \"$0\" \"$@\" \(redirections ?? "")", executable.path]
                + arguments
        } else {
            process.executableURL = executable
            process.arguments = arguments
        }
        var environment = ProcessInfo.processInfo.environment
        // Under `--sanitize=thread`, stop at the first report so the test sees the exit at once.
        environment["TSAN_OPTIONS"] = "halt_on_error=1"
        process.environment = environment
        let outPipe = Pipe()
        let errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        self.process = process
        output.collect(from: outPipe.fileHandleForReading)
        errors.collect(from: errPipe.fileHandleForReading)

        if redirections != nil {
            port = try Self.waitForListeningPort(of: process, name: name, errors: errors)
            return
        }
        guard
            let first = try? output.waitForLine(timeout: defaultTimeout, where: { _ in true }),
            first.line.hasPrefix("listening on "),
            let portText = first.line.split(separator: ":").last,
            let port = UInt16(portText)
        else {
            process.terminate()
            process.waitUntilExit()
            throw TestFailure(
                "\(name) did not print 'listening on HOST:PORT' first; stdout: \(output.lines), "
                    + "stderr: \(errors.lines)")
        }
        self.port = port
    }

    /// The port `process` listens on, from `/proc`, once it listens; it fails if the process
    /// ends first or the deadline passes.
    private static func waitForListeningPort(
        of process: Process, name: String, errors: OutputLog
    ) throws -> UInt16 {
        let deadline = ContinuousClock.now + defaultTimeout
        while true {
            if let port = listeningPort(ofProcess: process.processIdentifier) { return port }
            guard process.isRunning, ContinuousClock.now < deadline else {
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
                throw TestFailure(
                    "\(name) listened on no port in /proc within \(defaultTimeout) (exit status "
                        + "\(process.terminationStatus)); stderr: \(errors.lines)")
            }
            usleep(5_000)
        }
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    /// Every stdout line so far.
    public var lines: [String] { output.lines }
    /// Every stderr line so far.
    public var errorLines: [String] { errors.lines }

    /// Waits for a stdout line (at `after` or later) that `predicate` accepts; returns its index.
    @discardableResult
    public func waitForLine(
        after index: Int = 0, timeout: Duration = defaultTimeout,
        where predicate: @escaping (String) -> Bool
    ) throws -> (index: Int, line: String) {
        try output.waitForLine(after: index, timeout: timeout, where: predicate)
    }

    /// Waits for the stdout line that is exactly `text`.
    @discardableResult
    public func waitForLine(_ text: String, after index: Int = 0) throws -> Int {
        try waitForLine(after: index) { $0 == text }.index
    }

    /// How many file descriptors the server has open, from `/proc/PID/fd`.
    public var openDescriptorCount: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// How many threads the server has, from `/proc/PID/task`.
    public var threadCount: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").count) ?? -1
    }

    /// The names of the server's threads, from `/proc/PID/task/*/comm`. The stages name each
    /// client's thread after the client (`client-3`) and the consumer `consumer`. A thread that
    /// has ended can stay listed for a moment after its name is gone: it shows as `endedThread`.
    public var threadNames: [String] {
        let tasks =
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.map {
            (try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .newlines) ?? Self.endedThread
        }
    }

    /// How `threadNames` shows a thread that has ended but is still listed.
    public static let endedThread = "(ended)"

    /// Waits until no client thread is left, nor any ended one still listed, and returns the
    /// names of the threads that remain: the server's own, with nobody connected.
    @discardableResult
    public func waitForIdleThreads() throws -> [String] {
        try waitUntil("threads", { threadNames.sorted() }, is: "no client or ended thread") {
            !$0.contains { $0.hasPrefix("client-") || $0 == Self.endedThread }
        }
    }

    /// True while one of the server's threads sleeps inside `send` on `client`'s connection:
    /// its send buffer is full, because `client` does not read, and the thread waits for room.
    ///
    /// From `/proc`: the connection's socket (its inode in `/proc/net/tcp`), the server's
    /// descriptor for it (`/proc/PID/fd`), and a thread asleep (`S`) in the system call
    /// `sendto` on that descriptor (`/proc/PID/task/TID/stat` and `syscall`).
    public func isWaitingToSend(to client: TestClient) -> Bool {
        #if arch(x86_64)
            let sendto = "44"
        #else
            let sendto = "206"  // arm64
        #endif
        guard let inode = connectionRow(to: client)?[9],
            let descriptors = try? FileManager.default.contentsOfDirectory(
                atPath: "/proc/\(pid)/fd"),
            let descriptor = descriptors.first(where: {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)"))
                    == "socket:[\(inode)]"
            }),
            let number = Int(descriptor)
        else { return false }
        let call = "\(sendto) 0x\(String(number, radix: 16))"
        return threadStates.contains { $0.state == "S" && $0.call == call }
    }

    /// Each thread's name, state (`R` running, `S` asleep...), and the number of the system call
    /// it is in with its first argument (`running` when in none), from `/proc/PID/task/TID/comm`,
    /// `stat` and `syscall`.
    public var threadStates: [(name: String, state: String, call: String)] {
        let tasks =
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.map { task in
            func read(_ file: String) -> String {
                (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/\(file)", encoding: .utf8))
                    ?? ""
            }
            let stat = read("stat")
            let afterName = stat.lastIndex(of: ")").map { stat[stat.index(after: $0)...] } ?? ""
            return (
                read("comm").trimmingCharacters(in: .newlines),
                afterName.split(separator: " ").first.map(String.init) ?? "?",
                read("syscall").split(separator: " ").prefix(2).joined(separator: " ")
            )
        }
    }

    /// How many threads serve a client right now.
    public var clientThreadCount: Int { threadNames.filter { $0.hasPrefix("client-") }.count }

    /// Waits until `condition` holds, checking it every few milliseconds, or fails at the deadline
    /// with `what` and the last value seen. For states the server announces nowhere, such as how
    /// many descriptors it holds once a thread has ended.
    public func waitUntil<Value: Equatable>(
        _ what: String, timeout: Duration = defaultTimeout, _ value: () -> Value,
        equals expected: Value
    ) throws {
        try waitUntil(what, timeout: timeout, value, is: "\(expected)") { $0 == expected }
    }

    /// Waits until `value()` passes `test`, or fails at the deadline with `what`, the expectation
    /// (`expected`, in words) and the last value seen.
    @discardableResult
    public func waitUntil<Value>(
        _ what: String, timeout: Duration = defaultTimeout, _ value: () -> Value,
        is expected: String, _ test: (Value) -> Bool
    ) throws -> Value {
        let deadline = ContinuousClock.now + timeout
        var last = value()
        while !test(last) {
            guard ContinuousClock.now < deadline else {
                throw TestFailure("\(what): expected \(expected), still \(last) after \(timeout)")
            }
            usleep(5_000)
            last = value()
        }
        return last
    }

    /// CPU time the server has used so far (user and system, every thread), in clock ticks
    /// (1/100 s on Linux), from `/proc/PID/stat`.
    public var cpuTicks: Int {
        get throws {
            let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
            // The fields after the command name, which is in parentheses and may hold spaces.
            let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
            guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else {
                throw TestFailure("cannot read utime and stime in /proc/\(pid)/stat: \(stat)")
            }
            return user + system
        }
    }

    /// Leaves the server alone for `window` and checks that it used next to no CPU meanwhile: at
    /// most a tenth of the real time that passed. A thread that spins (checks again and again
    /// instead of sleeping until the kernel or a condition wakes it) uses all the CPU it is given,
    /// even on a busy machine far more than that; a server that sleeps uses almost none, however
    /// long the window grows when the test itself is kept waiting.
    public func checkIdle(over window: Duration = .seconds(2)) throws {
        let (before, start) = (try cpuTicks, ContinuousClock.now)
        // Only observes; nothing here waits for the server to do anything.
        while ContinuousClock.now - start < window { usleep(50_000) }
        let (used, elapsed) = (try cpuTicks - before, ContinuousClock.now - start)
        // A tick is 1/100 s, so a tenth of the elapsed time is one tick per 100 ms.
        let allowed = Int(elapsed / .milliseconds(100))
        guard used <= allowed else {
            throw TestFailure(
                "an idle \(name) used \(used) clock ticks of CPU in \(elapsed) (at most \(allowed)); "
                    + "its threads: \(threadNames.sorted())")
        }
    }

    /// How many bytes `client` has sent that the server has not read yet: the receive queue of
    /// the server's end of that connection, from `/proc/net/tcp`. Nil while the kernel lists no
    /// such connection. Zero means the server has called `recv` for everything sent so far.
    public func unreadBytes(from client: TestClient) -> Int? {
        // `tx_queue:rx_queue`, in hexadecimal.
        guard let queues = connectionRow(to: client)?[4].split(separator: ":").last else {
            return nil
        }
        return Int(queues, radix: 16)
    }

    /// The row of `/proc/net/tcp` for the server's end of `client`'s connection, split into
    /// fields: `sl local_address rem_address st tx_queue:rx_queue tr:when retrnsmt uid timeout
    /// inode ...`, addresses as HEX_IP:HEX_PORT. Nil while the kernel lists no such connection.
    private func connectionRow(to client: TestClient) -> [Substring]? {
        // Read to the end: the table is often longer than the one page a plain read returns.
        guard let file = FileHandle(forReadingAtPath: "/proc/net/tcp") else { return nil }
        defer { try? file.close() }
        let table = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        let local = String(format: ":%04X", Int(port))
        let remote = String(format: ":%04X", Int(client.localPort))
        for row in table.split(separator: "\n").dropFirst() {
            let fields = row.split(separator: " ")
            if fields.count > 9, fields[1].hasSuffix(local), fields[2].hasSuffix(remote) {
                return fields
            }
        }
        return nil
    }

    /// Waits until the server has read every byte `client` has sent so far (see `unreadBytes`).
    public func waitUntilRead(from client: TestClient) throws {
        try waitUntil(
            "bytes from port \(client.localPort) the server has not read",
            { unreadBytes(from: client) }, equals: 0)
    }

    /// Sends a signal, such as `SIGINT`. The kernel delivers it to any thread that does not
    /// block it.
    public func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Stops the server (SIGSTOP) and waits until every one of its threads has stopped: `kill`
    /// returns before the stop takes effect, and a thread still running could accept meanwhile.
    public func suspend() throws {
        signal(SIGSTOP)
        try waitUntil(
            "the states of the server's threads", { threadStates.map(\.state) }, is: "all T"
        ) { !$0.isEmpty && $0.allSatisfy { $0 == "T" } }
    }

    /// Sends a signal to the main thread alone: for a test that must know which thread runs the
    /// handler, and so in what order the server sees the signal and what it was doing.
    public func signalMainThread(_ number: Int32) {
        _ = tgkill(process.processIdentifier, process.processIdentifier, number)
    }

    /// Waits for the process to exit on its own; returns its exit status.
    public func waitForExit(timeout: Duration = defaultTimeout) throws -> Int32 {
        try waitForEnd("exit", timeout: timeout)
        guard process.terminationReason == .exit else {
            throw TestFailure(
                "\(name) died of signal \(process.terminationStatus); stderr: \(errorLines)")
        }
        return process.terminationStatus
    }

    /// Waits for the process to die of a signal; returns the signal's number. An exit fails, even
    /// with status 130: that is what a shell prints for death by SIGINT, but a parent tells the
    /// two apart (a script goes on after an exit, and stops after a SIGINT).
    public func waitForDeathBySignal(timeout: Duration = defaultTimeout) throws -> Int32 {
        try waitForEnd("end", timeout: timeout)
        guard process.terminationReason == .uncaughtSignal else {
            throw TestFailure(
                "\(name) exited with status \(process.terminationStatus), not by a signal; "
                    + "stdout: \(lines)")
        }
        return process.terminationStatus
    }

    /// Ends a server that runs until it is killed (SIGKILL), after checking it was still running:
    /// a server that exited by itself (a crash, a sanitizer report) fails the test.
    public func stop() throws {
        guard process.isRunning else {
            throw TestFailure(
                "\(name) exited early (status \(process.terminationStatus), reason "
                    + "\(process.terminationReason == .exit ? "exit" : "signal")); stderr: \(errorLines)"
            )
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try checkNoSanitizerReport()
    }

    /// Kills the server whatever state it is in; for clean-up after a failed test.
    public func forceStop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Waits for the process to end, however it ends, and fails on a sanitizer report.
    private func waitForEnd(_ verb: String, timeout: Duration) throws {
        guard exited.wait(timeout: .now() + timeout / .seconds(1)) == .success else {
            throw TestFailure("\(name) did not \(verb) within \(timeout); stdout: \(lines)")
        }
        exited.signal()  // Leaves the news there for any later wait.
        process.waitUntilExit()
        try checkNoSanitizerReport()
    }

    private func checkNoSanitizerReport() throws {
        output.waitForEnd(timeout: .seconds(2))
        errors.waitForEnd(timeout: .seconds(2))
        let text = errorLines.joined(separator: "\n")
        if text.contains("Sanitizer") || text.contains("Fatal error") {
            throw TestFailure("\(name) reported on stderr:\n\(text)")
        }
    }
}

/// Runs `body` with a freshly launched server and always ends it afterwards. A server that
/// crashed, or printed a sanitizer report, fails the test even when `body` passed.
public func withServer<Result>(
    _ name: String, _ arguments: [String] = [], afterShellCommands shellCommands: String? = nil,
    _ body: (ServerProcess) throws -> Result
) throws -> Result {
    let server = try ServerProcess.launch(name, arguments, afterShellCommands: shellCommands)
    let result: Result
    do {
        result = try body(server)
    } catch {
        server.forceStop()
        throw error
    }
    if server.isRunning {
        try server.stop()
    } else {
        server.forceStop()
    }
    return result
}

/// Lines read from one of a child's pipes, by a thread of its own, with a way to wait for one.
/// Every field is read and written only while `changed` is locked.
public final class OutputLog: @unchecked Sendable {
    private var collected: [String] = []
    private var ended = false
    private let changed = NSCondition()

    public init() {}

    public var lines: [String] {
        changed.lock()
        defer { changed.unlock() }
        return collected
    }

    public func collect(from handle: FileHandle) {
        let thread = Thread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                // Every complete line in one pass, then the consumed bytes dropped once: removing
                // each line from the front as it is found would copy the rest every time.
                var lines: [String] = []
                var start = pending.startIndex
                while let newline = pending[start...].firstIndex(of: 10) {
                    lines.append(String(decoding: pending[start..<newline], as: UTF8.self))
                    start = newline + 1
                }
                pending.removeSubrange(pending.startIndex..<start)
                if !lines.isEmpty { update { $0.collected.append(contentsOf: lines) } }
            }
            if !pending.isEmpty {
                let rest = String(decoding: pending, as: UTF8.self)
                update { $0.collected.append(rest) }
            }
            update { $0.ended = true }
        }
        thread.start()
    }

    private func update(_ change: (OutputLog) -> Void) {
        changed.lock()
        change(self)
        changed.broadcast()
        changed.unlock()
    }

    @discardableResult
    public func waitForLine(
        after start: Int = 0, timeout: Duration, where predicate: (String) -> Bool
    ) throws -> (index: Int, line: String) {
        let deadline = Date() + timeout / .seconds(1)
        changed.lock()
        defer { changed.unlock() }
        var checked = start
        while true {
            while checked < collected.count {
                if predicate(collected[checked]) { return (checked, collected[checked]) }
                checked += 1
            }
            if ended || !changed.wait(until: deadline) {
                // The last lines say most about what happened instead; a flood of lines would
                // bury the message.
                throw TestFailure(
                    "no such line after line \(start) within \(timeout); the last lines were: "
                        + "\(collected.suffix(20)) (\(collected.count) in all)")
            }
        }
    }

    public func waitForEnd(timeout: Duration = .seconds(2)) {
        let deadline = Date() + timeout / .seconds(1)
        changed.lock()
        defer { changed.unlock() }
        while !ended {
            if !changed.wait(until: deadline) { return }
        }
    }
}

/// Checks that `actual` equals `expected`, and when it does not, says what `actual` was.
/// `#expect(try client.readLine() == "hi")` would say only that the expectation failed: the
/// macro shows no value from an expression that can throw.
public func expect<Value: Equatable>(
    _ actual: Value, is expected: Value, _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual == expected, comment, sourceLocation: sourceLocation)
}

/// glibc's `tgkill`, which sends a signal to one thread of a process; Swift's Glibc module does
/// not declare it.
public let tgkill = unsafeBitCast(
    dlsym(nil, "tgkill")!, to: (@convention(c) (pid_t, pid_t, Int32) -> Int32).self)
