import Foundation
import TestSupport
import Testing

/// The interactive mode, driven through pipes as a person would drive it from a terminal.
@Suite struct InteractiveTests {
    @Test(arguments: Stage.all)
    func repliesArePrintedAndEndOfInputEndsTheSessionCleanly(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            try withClient(["--port", "\(server.port)"]) { client in
                try client.type("hello")
                try client.waitForLine(stage.reply(to: "hello", from: 0))
                try client.type("again")
                try client.waitForLine(stage.reply(to: "again", from: 0))
                // Ctrl-D: the client closes its sending side, the server sees the end and closes.
                try client.closeInput()
                try client.waitForLine("client(\(client.pid)): server closed the connection")
                #expect(try client.waitForExit() == 0)
                #expect(client.errorLines.isEmpty)
            }
        }
    }

    /// After the end of its input the client keeps printing: the ACKs of lines still queued
    /// arrive afterwards, and only the server's close ends the session.
    @Test func repliesStillArriveAfterTheEndOfInput() throws {
        try withServer(Stage.stage3.name, ["--work-delay", "0.1"]) { server in
            try withClient(["--port", "\(server.port)"]) { client in
                try client.type("first")
                try client.type("second")
                try client.closeInput()
                #expect(try client.waitForExit() == 0)
                #expect(
                    client.lines == [
                        "Received: first", "Received: second",
                        "client(\(client.pid)): server closed the connection",
                    ])
            }
        }
    }

    @Test func quitFromAShuttingDownServerEndsTheClientWithStatusZero() throws {
        try withServer(Stage.stage5.name) { server in
            try withClient(["--port", "\(server.port)"]) { client in
                try client.type("before the signal")
                try client.waitForLine("Received: before the signal")
                server.signal(SIGINT)
                // Standard input stays open: it is the server's `Quit` that ends the client.
                try client.waitForLine("client(\(client.pid)): received request to quit")
                #expect(try client.waitForExit() == 0)
                #expect(try server.waitForExit() == 0)
            }
        }
    }

    @Test func aRefusedConnectionIsOneErrorLineAndStatus1() throws {
        // A port a server has just let go of: nothing listens there now.
        let port = try withServer(Stage.stage1.name) { $0.port }
        let run = try runToExit("Client", ["--port", "\(port)"])
        #expect(run.status == 1)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr == "error: connect 127.0.0.1:\(port): Connection refused\n")
    }
}

/// The command line, with the conventions of the stages: `--help` on stdout with status 0, a
/// usage error on stderr with a hint and status 64.
@Suite struct ClientOptionsTests {
    @Test func helpPrintsUsageForEveryMode() throws {
        for arguments in [["--help"], ["-h"], ["load", "--help"], ["measure", "-h"]] {
            let run = try runToExit("Client", arguments)
            #expect(run.status == 0)
            #expect(run.stdout.hasPrefix("usage: Client [--host ADDR] [--port N]\n"))
            for mode in ["repeat", "load", "measure"] {
                #expect(run.stdout.contains("Client \(mode) "), "\(mode)")
            }
            #expect(run.stderr.isEmpty)
        }
    }

    @Test(arguments: [
        (["--bogus"], "error: unknown option '--bogus'"),
        (["--port", "70000"], "error: bad value '70000' for --port"),
        (["--host", "localhost"], "error: bad value 'localhost' for --host"),
        (["--port"], "error: --port needs a value"),
        (["stray"], "error: unknown mode 'stray'"),
        (["repeat", "--interval", "1"], "error: repeat needs --message TEXT"),
        (["repeat", "--message", "hi", "--interval", "0"], "error: bad value '0' for --interval"),
        (["load", "--clients", "2"], "error: load needs --messages M"),
        (["load", "--clients", "0", "--messages", "1"], "error: bad value '0' for --clients"),
        (["measure", "--quick=yes"], "error: --quick takes no value"),
        (["measure", "--port", "1"], "error: unknown option '--port'"),
    ])
    func usageErrorsExit64WithAHint(arguments: [String], expected: String) throws {
        let run = try runToExit("Client", arguments)
        #expect(run.status == 64)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.hasPrefix(expected), "\(run.stderr)")
        #expect(run.stderr.hasSuffix("\nRun 'Client --help' for usage.\n"))
    }
}

/// `repeat`: `PID: TEXT` every interval, on each connection.
@Suite struct RepeatTests {
    @Test func eachMessageCarriesThePIDAndEveryReplyIsPrinted() throws {
        try withServer(Stage.stage3.name) { server in
            let arguments = [
                "repeat", "--message", "polly", "--interval", "0.02", "--count", "3",
                "--port", "\(server.port)",
            ]
            try withClient(arguments) { (client) throws in
                #expect(try client.waitForExit() == 0)
                #expect(
                    client.lines
                        == Array(repeating: "Received: \(client.pid): polly", count: 3) + [
                            "server closed the connection"
                        ])
                let received = server.lines.filter { $0.hasPrefix("[client-0] [normal] ") }
                #expect(received.count == 3)
            }
        }
    }

    @Test func severalConnectionsEachSayWhichLineIsTheirs() throws {
        try withServer(Stage.stage3.name) { server in
            let arguments = [
                "repeat", "--message", "hi", "--interval", "0.02", "--count", "2", "--clients",
                "3", "--port", "\(server.port)",
            ]
            try withClient(arguments) { (client) throws in
                #expect(try client.waitForExit() == 0)
                for connection in 1...3 {
                    let mine = client.lines.filter { $0.hasPrefix("connection \(connection): ") }
                    #expect(
                        mine == [
                            "connection \(connection): Received: \(client.pid): hi",
                            "connection \(connection): Received: \(client.pid): hi",
                            "connection \(connection): server closed the connection",
                        ])
                }
                #expect(client.lines.count == 9)
            }
        }
    }
}

/// Closed-loop load: the counts in the summary add up.
@Suite struct LoadTests {
    /// The summary's `name  value` lines as a dictionary.
    func summary(_ stdout: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in stdout.split(separator: "\n") {
            guard let gap = line.firstRange(of: "  ") else { continue }
            let value = line[gap.upperBound...].trimmingCharacters(in: .whitespaces)
            fields[String(line[..<gap.lowerBound])] = value
        }
        return fields
    }

    /// True for a log line that ends in a load token, such as `[client-2] [normal] t2-7`.
    func endsWithToken(_ line: String) -> Bool {
        guard let last = line.split(separator: " ").last, last.hasPrefix("t") else { return false }
        let numbers = last.dropFirst().split(separator: "-", omittingEmptySubsequences: false)
        return numbers.count == 2 && numbers.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    }

    @Test(arguments: Stage.all)
    func everyMessageIsAnsweredOnEveryStage(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            let run = try runToExit(
                "Client",
                ["load", "--clients", "3", "--messages", "10", "--port", "\(server.port)"])
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            let fields = summary(run.stdout)
            #expect(fields["clients"] == "3")
            #expect(fields["messages/client"] == "10")
            #expect(fields["completed"] == "30 of 30")
            #expect(fields["unanswered"] == "0")
            #expect(fields["connection errors"] == "0")
            for key in ["messages/s", "latency p50", "latency p90", "latency p99", "latency max"] {
                #expect(fields[key] != nil, "\(key)")
            }
            // Every message reached the server as a line of its own, and was logged once.
            try server.waitUntil(
                "token lines logged", { server.lines.filter(endsWithToken).count }, equals: 30)
        }
    }

    @Test func thePrefixReachesTheServer() throws {
        try withServer(Stage.stage3.name) { server in
            let run = try runToExit(
                "Client",
                [
                    "load", "--clients", "2", "--messages", "5", "--prefix", "/urgent ",
                    "--port", "\(server.port)",
                ])
            #expect(run.status == 0)
            #expect(summary(run.stdout)["completed"] == "10 of 10")
            #expect(server.lines.filter { $0.contains("[urgent] t") }.count == 10)
        }
    }

    @Test func connectionsThatFailAreCountedNotHiddenAndTheStatusIs1() throws {
        let port = try withServer(Stage.stage1.name) { $0.port }
        let run = try runToExit(
            "Client", ["load", "--clients", "4", "--messages", "3", "--port", "\(port)"])
        #expect(run.status == 1)
        let fields = summary(run.stdout)
        #expect(fields["completed"] == "0 of 12")
        #expect(fields["connection errors"] == "4")
        #expect(fields["unanswered"] == "0")
        #expect(fields["first error"] == "connect 127.0.0.1:\(port): Connection refused")
    }
}

/// `measure --quick`: every stage started and stopped, one Markdown table with a number (or
/// n/a) in every cell.
@Suite struct MeasureTests {
    @Test func theTableHasAColumnPerStageAndANumberInEveryCell() throws {
        let run = try runToExit("Client", ["measure", "--quick"], timeout: .seconds(180))
        #expect(run.status == 0, "\(run.stderr)")
        let rows = run.stdout.split(separator: "\n").map(String.init)
        // A column for every stage, Stage 1 to Stage 6.
        let numbers = Stage.all.map(\.number)
        #expect(numbers == Array(1...6))
        #expect(
            rows.first == "| Scenario | " + numbers.map { "Stage \($0)" }.joined(separator: " | ")
                + " |")
        #expect(
            rows.dropFirst().first == "| --- |" + String(repeating: " ---: |", count: numbers.count)
        )
        let body = rows.dropFirst(2)
        #expect(body.count >= 8)
        for row in body {
            let fields = row.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            // "| a | b |" splits into an empty field at each end around the cells.
            #expect(fields.count == numbers.count + 3, "\(row)")
            #expect(fields.first == "" && fields.last == "", "\(row)")
            #expect(!fields[1].isEmpty, "\(row)")
            for cell in fields.dropFirst(2).dropLast() {
                #expect(cell == "n/a" || Double(cell) != nil, "'\(cell)' in \(row)")
            }
        }
        // The table comes from the real servers: every stage was started.
        for stage in Stage.all {
            #expect(run.stderr.contains("measure: \(stage.name): "), "\(stage.name)")
        }
        #expect(!run.stderr.contains("error"))
    }
}
