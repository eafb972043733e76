import Foundation
import Glibc
import TestSupport
import Testing

/// What Stage 4 adds against a client that sends faster than the consumer works: backpressure.
/// Each client may have only a few messages waiting in the queue; its thread then stops reading,
/// the kernel's buffers fill, and TCP's flow control makes the client's own `send` wait.
@Suite struct BackpressureTests {
    /// One client sends 4000-byte lines as fast as the server takes them, and reads its ACKs. Stage 3
    /// would queue all of them; here the server stops taking them once a few are queued, and its
    /// memory stays where it was, while another client is still answered.
    @Test(arguments: Stage.guarded)
    func aFloodingClientCannotGrowTheServersMemory(stage: Stage) throws {
        // The consumer spends a quarter of a second on each message: far slower than the flood.
        try withServer(stage.name, ["--work-delay", "0.25", "--idle-timeout", "60"]) { server in
            let quiet = try TestClient(port: server.port)
            try quiet.send("before")
            #expect(try quiet.readLine() == "Received: before")
            let before = try residentKiB(of: server.pid)

            let flooder = try TestClient(port: server.port)
            // It reads every ACK, so the server is never kept waiting to send one.
            let acksRead = DispatchSemaphore(value: 0)
            Thread { [descriptor = flooder.descriptor] in
                var chunk = [UInt8](repeating: 0, count: 65536)
                while recv(descriptor, &chunk, chunk.count, 0) > 0 {}
                acksRead.signal()
            }.start()
            let line = String(repeating: "x", count: 4000)
            // Up to 64 MiB in 15 seconds, if the server reads everything it is sent, as Stage 3
            // does, and queues it all. With backpressure the server stops reading once a few
            // lines are queued: the kernel's buffers fill, and the flood ends when no room has
            // come for two seconds.
            let sent = flooder.flood(
                line, limit: 64 << 20, for: .seconds(15), patience: .seconds(2))
            let after = try residentKiB(of: server.pid)
            #expect(
                after - before < 16 * 1024,
                "resident memory grew from \(before) KiB to \(after) KiB after \(sent) bytes sent")

            // Another client is still served: its urgent line first, and its normal line after no
            // more than the flooder's few queued messages (8, two seconds of work).
            try quiet.send("/urgent urgent still served")
            try quiet.send("normal still served")
            #expect(
                try quiet.readLines(2) == [
                    "Received: urgent still served", "Received: normal still served",
                ])
            Glibc.shutdown(flooder.descriptor, Int32(SHUT_RDWR))
            #expect(acksRead.wait(timeout: .now() + 10) == .success)
        }
    }

    /// The ACKs of lines read before a line that is too long come before its `ERR` line, so the
    /// client can tell which lines were handled.
    @Test(arguments: Stage.guarded)
    func theAcksOfEarlierLinesComeBeforeTheErrorForALineTooLong(stage: Stage) throws {
        try withServer(stage.name, ["--work-delay", "0.2"]) { server in
            let client = try TestClient(port: server.port)
            let tooLong = [UInt8](repeating: UInt8(ascii: "y"), count: 5000)
            try client.send(bytes: Array("one\ntwo\n".utf8) + tooLong)
            #expect(
                try client.readUntilClosed() == [
                    "Received: one", "Received: two", "ERR line too long (max 4096 bytes)",
                ])
        }
    }
}

/// The resident set size of a process, as /proc/PID/status reports it (`VmRSS`), in KiB.
func residentKiB(of pid: Int32) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
    else { throw TestFailure("no VmRSS line in /proc/\(pid)/status:\n\(status)") }
    return kib
}
