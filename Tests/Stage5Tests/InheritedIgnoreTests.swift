import Foundation
import Glibc
import TestSupport
import Testing

/// A signal that a process inherits as ignored stays ignored, by Unix convention: a shell starts
/// background jobs with SIGINT ignored, so that a Ctrl-C meant for the foreground job does not
/// stop them too. Stage 5 keeps such an ignore, and still shuts down gracefully on SIGTERM.
@Suite(.enabled(if: Stage.stage5.isTested)) struct InheritedIgnoreTests {
    @Test func anInheritedIgnoreOfSIGINTIsKeptAndSIGTERMStillShutsDown() throws {
        // The shell ignores SIGINT, then becomes the server: `exec` keeps an ignored signal
        // ignored, as it is in a background job that a script starts with `&`.
        let server = ServerProcess.binaryDirectory.appendingPathComponent(Stage.stage5.name).path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "trap '' INT; exec \"$0\" --port 0", server]
        let (out, err) = (Pipe(), Pipe())
        let (output, errors) = (OutputLog(), OutputLog())
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        output.collect(from: out.fileHandleForReading)
        errors.collect(from: err.fileHandleForReading)
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        // Printed by the server itself, after it installed its handlers: the shell is gone.
        try output.waitForLine(timeout: defaultTimeout) { $0.hasPrefix("listening on ") }

        kill(process.processIdentifier, SIGINT)
        // Had the server replaced the ignore with its handler, the SIGINT would have started the
        // shutdown, and this SIGTERM would be a second signal, which kills at once.
        kill(process.processIdentifier, SIGTERM)
        let ended = exited.wait(timeout: .now() + defaultTimeout / .seconds(1)) == .success
        #expect(ended, "no exit within \(defaultTimeout); stdout: \(output.lines)")
        guard ended else { return }
        process.waitUntilExit()
        output.waitForEnd()
        errors.waitForEnd()
        #expect(
            process.terminationReason == .exit && process.terminationStatus == 0,
            """
            ended by \(process.terminationReason == .exit ? "exit" : "signal") \
            \(process.terminationStatus); stdout: \(output.lines); stderr: \(errors.lines)
            """)
        #expect(output.lines.filter { $0 == "shutting down" }.count == 1, "\(output.lines)")
        #expect(
            output.lines.last == "shutdown complete: 0 clients served, 0 messages processed",
            "\(output.lines)")
    }
}
