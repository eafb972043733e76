import Foundation
import TestSupport

/// The built `Client` running as a child process: its standard input is a pipe the test types
/// into, and its standard output and error are collected line by line as they arrive.
final class ClientProcess {
    private let process = Process()
    private let input = Pipe()
    private let output = OutputLog()
    private let errors = OutputLog()
    /// Signalled once, when the process exits.
    private let exited = DispatchSemaphore(value: 0)

    init(_ arguments: [String]) throws {
        // A client that has exited leaves the pipe with no reader: writing to it would then
        // raise SIGPIPE and end the whole test run instead of failing one test.
        signal(SIGPIPE, SIG_IGN)
        process.executableURL = ServerProcess.binaryDirectory.appendingPathComponent("Client")
        process.arguments = arguments
        let (outPipe, errorPipe) = (Pipe(), Pipe())
        process.standardInput = input
        process.standardOutput = outPipe
        process.standardError = errorPipe
        process.terminationHandler = { [exited] _ in exited.signal() }
        try process.run()
        output.collect(from: outPipe.fileHandleForReading)
        errors.collect(from: errorPipe.fileHandleForReading)
    }

    var pid: Int32 { process.processIdentifier }
    /// Every stdout line so far.
    var lines: [String] { output.lines }
    /// Every stderr line so far.
    var errorLines: [String] { errors.lines }

    /// Types `text` and presses Enter.
    func type(_ text: String) throws {
        try input.fileHandleForWriting.write(contentsOf: Data((text + "\n").utf8))
    }

    /// Ends standard input, as Ctrl-D does in a terminal.
    func closeInput() throws {
        try input.fileHandleForWriting.close()
    }

    /// Waits for the stdout line that is exactly `text`.
    func waitForLine(_ text: String, timeout: Duration = defaultTimeout) throws {
        try output.waitForLine(timeout: timeout) { $0 == text }
    }

    /// Waits for the process to exit by itself, and returns its exit status. Being killed by a
    /// signal, or still running at the deadline, fails the test.
    func waitForExit(timeout: Duration = defaultTimeout) throws -> Int32 {
        guard exited.wait(timeout: .now() + timeout / .seconds(1)) == .success else {
            throw TestFailure("Client did not exit within \(timeout); stdout: \(lines)")
        }
        exited.signal()  // Leaves the news there for `forceStop`.
        process.waitUntilExit()
        output.waitForEnd()
        errors.waitForEnd()
        guard process.terminationReason == .exit else {
            throw TestFailure("Client died of signal \(process.terminationStatus)")
        }
        return process.terminationStatus
    }

    /// Kills the client whatever state it is in; for clean-up after a failed test.
    func forceStop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Runs `body` with a freshly started client, and kills the client afterwards if `body` left
/// it running (a test that failed before the client could exit).
func withClient<Result>(
    _ arguments: [String], _ body: (ClientProcess) throws -> Result
) throws -> Result {
    let client = try ClientProcess(arguments)
    defer { client.forceStop() }
    return try body(client)
}
