import TestSupport
import Testing

/// The command-line part of docs/PROTOCOL.md, checked against every stage's real executable.
@Suite struct OptionsContractTests {
    @Test(arguments: Stage.all)
    func helpPrintsUsageOnStdoutAndExitsZero(stage: Stage) throws {
        for flag in ["-h", "--help"] {
            let run = try runToExit(stage.name, [flag])
            #expect(run.status == 0)
            #expect(run.stdout.hasPrefix("usage: \(stage.name) [options]\n"))
            #expect(run.stdout.contains("--port N"))
            #expect(run.stderr.isEmpty)
        }
    }

    @Test(arguments: Stage.all)
    func unknownOptionExits64WithOneErrorLineAndAHint(stage: Stage) throws {
        let run = try runToExit(stage.name, ["--bogus"])
        #expect(run.status == 64)
        #expect(run.stdout.isEmpty)
        #expect(
            run.stderr == "error: unknown option '--bogus'\nRun '\(stage.name) --help' for usage.\n"
        )
    }

    @Test(arguments: Stage.all)
    func badValuesExit64(stage: Stage) throws {
        let cases: [([String], String)] = [
            (["--port", "abc"], "error: bad value 'abc' for --port"),
            (["--port", "65536"], "error: bad value '65536' for --port"),
            (["--port=-1"], "error: bad value '-1' for --port"),
            (["--port"], "error: --port needs a value"),
            (["--host", "example.invalid"], "error: bad value 'example.invalid' for --host"),
            (["stray"], "error: unexpected argument 'stray'"),
        ]
        for (arguments, expected) in cases {
            let run = try runToExit(stage.name, arguments)
            #expect(run.status == 64, "\(arguments)")
            #expect(run.stderr.hasPrefix(expected), "\(arguments): \(run.stderr)")
            #expect(run.stderr.hasSuffix("Run '\(stage.name) --help' for usage.\n"))
        }
    }

    @Test(arguments: Stage.all)
    func busyPortIsOneClearErrorAndExitStatus1(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { first in
            let run = try runToExit(stage.name, ["--port", "\(first.port)"])
            #expect(run.status == 1)
            #expect(run.stderr == "error: bind 127.0.0.1:\(first.port): Address already in use\n")
            #expect(run.stdout.isEmpty)
            // The first server is untouched by the second one's failure.
            let client = try TestClient(port: first.port)
            try client.send("still here")
            #expect(try client.readLine() == stage.reply(to: "still here", from: 0))
        }
    }

    @Test(arguments: Stage.all)
    func firstLineNamesTheRealBoundPort(stage: Stage) throws {
        try withServer(stage.name, stage.contractArguments) { server in
            #expect(server.port != 0)
            #expect(server.lines.first == "listening on 127.0.0.1:\(server.port)")
            _ = try TestClient(port: server.port)
            try server.waitForLine(after: 1) { $0.hasPrefix("[client-0] connected from ") }
        }
    }
}
