import Foundation
import Glibc
import TestSupport
import Testing

/// What a hostile environment does to every stage, beyond a hostile client.
@Suite struct HostileContractTests {
    /// `Stage2ThreadPerClient | head -1`: the reader of the log goes away after one line. The next
    /// log line is written into a pipe nobody reads, which raises SIGPIPE; unless the server
    /// ignores it, that kills the server and every client with it. The server must keep serving.
    @Test(arguments: Stage.all)
    func aClosedLogPipeDoesNotKillTheServer(stage: Stage) throws {
        let server = try LogPipeServer(stage)
        defer { server.kill() }
        try server.closeLog()
        do {
            let client = try TestClient(port: server.port)
            try client.send("after the log is gone")
            #expect(try client.readLine() == stage.reply(to: "after the log is gone", from: 0))
            client.close()
            // A second client, after the first one's `disconnected` line also went nowhere.
            let second = try TestClient(port: server.port)
            try second.send("still here")
            var reply = try second.readLine()
            while stage.name == Stage.stage2.name && !reply.hasSuffix("still here") {
                reply = try second.readLine()
            }
            #expect(reply == stage.reply(to: "still here", from: 1))
        } catch {
            throw TestFailure("\(error); meanwhile the server \(server.state)")
        }
        try server.killAndCheckItWasRunning()
    }
}

/// A stage whose standard output is a pipe the test can close, as `| head -1` would.
private final class LogPipeServer {
    let process = Process()
    let port: UInt16
    private let output = Pipe()

    init(_ stage: Stage) throws {
        process.executableURL = ServerProcess.binaryDirectory.appendingPathComponent(stage.name)
        process.arguments = ["--port", "0"] + stage.contractArguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // The first line, byte by byte, so that nothing after it is read: `listening on HOST:PORT`.
        var line: [UInt8] = []
        var byte: UInt8 = 0
        let descriptor = output.fileHandleForReading.fileDescriptor
        while Glibc.read(descriptor, &byte, 1) == 1, byte != 10 { line.append(byte) }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("listening on "),
            let port = text.split(separator: ":").last.flatMap({ UInt16($0) })
        else {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw TestFailure("\(stage.name) printed '\(text)' instead of 'listening on HOST:PORT'")
        }
        self.port = port
    }

    /// Closes the only read end of the server's stdout: its next log line has no reader.
    func closeLog() throws {
        try output.fileHandleForReading.close()
    }

    /// Whether the server is running, or how it ended.
    var state: String {
        if process.isRunning { return "is still running" }
        let how = process.terminationReason == .exit ? "exited with status" : "was killed by signal"
        return "\(how) \(process.terminationStatus)"
    }

    /// Ends the server, which must still have been running: a server killed by SIGPIPE fails.
    func killAndCheckItWasRunning() throws {
        let wasRunning = process.isRunning
        kill()
        guard wasRunning else { throw TestFailure("the server \(state) before the test ended") }
        #expect(
            process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)
    }

    func kill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
