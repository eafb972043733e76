import Foundation
import Glibc
import TestSupport
import Testing

/// The send timeout against a client that reads, but only a few bytes at a time: each `send`
/// of its ACK could place a few bytes just before its own timeout, and the next start a fresh
/// one. The timeout is for the whole reply, so such a client is cut off like one that does not
/// read at all, and the others' ACKs go on.
@Suite struct SlowReaderTests {
    @Test(arguments: Stage.guarded)
    func aClientThatReadsAFewBytesASecondIsCutOffAndOthersKeepGettingAcks(stage: Stage) throws {
        try withServer(stage.name, ["--idle-timeout", "60"]) { server in
            let honest = try TestClient(port: server.port)
            try honest.send("hello")
            #expect(try honest.readLine() == "Received: hello")
            let slow = try TestClient(port: server.port, receiveBuffer: 2048)
            try server.waitForLine { $0.hasPrefix("[client-1] connected") }
            // Long lines whose ACKs fill the buffers between the server and the slow reader.
            slow.flood(String(repeating: "s", count: 4000), limit: 4 << 20)
            // From now on it reads at most 4000 bytes every 0.9 s, until closed: about one ACK
            // each time, but never enough at once for the kernel to wake a blocked sender soon.
            let readerDone = DispatchSemaphore(value: 0)
            Thread { [descriptor = slow.descriptor] in
                var chunk = [UInt8](repeating: 0, count: 4000)
                while recv(descriptor, &chunk, chunk.count, 0) > 0 { usleep(900_000) }
                readerDone.signal()
            }.start()
            try server.waitForLine("[client-1] send timed out")
            try honest.send("/urgent still there")
            #expect(try honest.readLine() == "Received: still there")
            Glibc.shutdown(slow.descriptor, Int32(SHUT_RDWR))
            #expect(readerDone.wait(timeout: .now() + 10) == .success)
        }
    }
}
