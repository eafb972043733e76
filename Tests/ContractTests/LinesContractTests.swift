import Glibc
import TestSupport
import Testing

/// The connection and line parts of docs/PROTOCOL.md, for every stage. Clients take turns, one
/// at a time, so these hold for Stage 1 too.
@Suite struct LinesContractTests {
    @Test(arguments: Stage.all)
    func connectionsAreNumberedInAcceptOrderAndLogged(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            var seen = 0
            for number in 0..<3 {
                let client = try TestClient(port: server.port)
                seen = try server.waitForLine(
                    "[client-\(number)] connected from 127.0.0.1:\(client.localPort)", after: seen)
                try client.send("hello \(number)")
                try expect(client.readLine(), is: stage.reply(to: "hello \(number)", from: number))
                seen = try server.waitForLine(
                    stage.logLine(for: "hello \(number)", from: number), after: seen)
                client.close()
                seen = try server.waitForLine("[client-\(number)] disconnected", after: seen)
            }
        }
    }

    @Test(arguments: Stage.all)
    func linesAreFramedWhateverTheWritesLookLike(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            let client = try TestClient(port: server.port)
            // Three lines in one write, a CRLF line, empty lines, and a line split over writes.
            try client.send(bytes: Array("one\ntwo\r\n\n\r\nthr".utf8))
            try client.send(bytes: Array("ee\n".utf8))
            let expected = ["one", "two", "three"].map { stage.reply(to: $0, from: 0) }
            try expect(client.readLines(3), is: expected)
            // The empty lines produced nothing: the next reply is for the next line.
            try client.send("four")
            try expect(client.readLine(), is: stage.reply(to: "four", from: 0))
            client.close()
            try server.waitForLine("[client-0] disconnected")
            try server.checkStillServing(stage, asClient: 1)
        }
    }

    @Test(arguments: Stage.all)
    func aLineSentOneByteAtATimeIsOneLine(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            let client = try TestClient(port: server.port)
            for byte in "slowly\n".utf8 { try client.send(bytes: [byte]) }
            try expect(client.readLine(), is: stage.reply(to: "slowly", from: 0))
            client.close()
            try server.waitForLine("[client-0] disconnected")
            try server.checkStillServing(stage, asClient: 1)
        }
    }

    @Test(arguments: Stage.all)
    func aLineOfExactlyTheLimitIsAccepted(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            let client = try TestClient(port: server.port)
            let longest = String(repeating: "x", count: 4096)
            try client.send(longest)
            try expect(client.readLine(), is: stage.reply(to: longest, from: 0))
        }
    }

    @Test(arguments: Stage.all)
    func aLineOverTheLimitIsRefusedAndTheServerGoesOn(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            let client = try TestClient(port: server.port)
            try client.send(String(repeating: "x", count: 4097))
            try expect(client.readLine(), is: "ERR line too long (max 4096 bytes)")
            #expect(client.isClosedByServer())
            try server.waitForLine("[client-0] disconnected")

            try server.checkStillServing(stage, asClient: 1)
        }
    }

    @Test(arguments: Stage.all)
    func aMebibyteWithoutANewlineIsRefusedWithBoundedMemory(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            let client = try TestClient(port: server.port, sendBuffer: 4096)
            // The server refuses the line after 4097 bytes, but reads and discards the rest before
            // closing: a client that sends everything first, as `nc` does, is not reset mid-send
            // and still reads the ERR line.
            try client.send(bytes: [UInt8](repeating: UInt8(ascii: "y"), count: 1 << 20))
            try expect(client.readLine(), is: "ERR line too long (max 4096 bytes)")
            try server.waitForLine("[client-0] disconnected")

            try server.checkStillServing(stage, asClient: 1)
        }
    }

    @Test(arguments: Stage.all)
    func invalidUTF8AndNULBytesComeBackUnchanged(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            let client = try TestClient(port: server.port)
            let payload: [UInt8] = [0xFF, 0x00, 0xC3, 0x28, UInt8(ascii: "z"), 0xFE]
            try client.send(bytes: payload + [10])
            // Every stage's reply is some prefix followed by the text, byte for byte.
            let prefix = Array(stage.reply(to: "", from: 0).utf8)
            try expect(client.readLineBytes(), is: prefix + payload)
            // The log shows each invalid byte as U+FFFD and the NUL as an escape.
            try server.waitForLine(stage.logLine(for: "\u{FFFD}\\x00\u{FFFD}(z\u{FFFD}", from: 0))
            client.close()
            try server.waitForLine("[client-0] disconnected")
            try server.checkStillServing(stage, asClient: 1)
        }
    }

    @Test(arguments: Stage.all)
    func clientsThatVanishNeverStopTheServer(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            // Reset in the middle of a line.
            let resetter = try TestClient(port: server.port)
            try resetter.send(bytes: Array("half a li".utf8))
            resetter.reset()
            try server.waitForLine("[client-0] disconnected")

            // Floods lines and closes without reading a single reply: the replies meet a closed
            // socket, which must be an error for the server, not a SIGPIPE that kills it.
            let flooder = try TestClient(port: server.port)
            // Long lines, so the buffers fill after a few thousand lines, not millions.
            #expect(flooder.flood(String(repeating: "f", count: 2000), limit: 4 << 20) > 0)
            flooder.close()
            try server.waitForLine("[client-1] disconnected")

            try server.checkStillServing(stage, asClient: 2)
        }
    }
}
