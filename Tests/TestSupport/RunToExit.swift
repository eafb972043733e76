import Foundation

/// What a process printed and how it ended.
public struct Finished: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs a built executable that is expected to exit by itself (`--help`, a bad option, a busy
/// port), and returns its status and output. It is killed if it is still running at the deadline.
public func runToExit(
    _ name: String, _ arguments: [String], timeout: Duration = defaultTimeout
) throws -> Finished {
    try Stage.skipUnlessTested(name)
    let process = Process()
    process.executableURL = ServerProcess.binaryDirectory.appendingPathComponent(name)
    process.arguments = arguments
    let (out, err) = (Pipe(), Pipe())
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    let exited = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in exited.signal() }
    try process.run()
    guard exited.wait(timeout: .now() + timeout / .seconds(1)) == .success else {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw TestFailure("\(name) \(arguments) did not exit within \(timeout)")
    }
    let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    guard process.terminationReason == .exit else {
        throw TestFailure("\(name) died of signal \(process.terminationStatus); stderr: \(stderr)")
    }
    return Finished(status: process.terminationStatus, stdout: stdout, stderr: stderr)
}
