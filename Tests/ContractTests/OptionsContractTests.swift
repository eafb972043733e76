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

    /// Only plain decimal digits make a port: a sign, even one that changes nothing, is refused.
    /// (Each spelling means port 0, so a stage that wrongly accepts it listens on a free port.)
    @Test(arguments: Stage.all)
    func signedOrHexadecimalPortsExit64(stage: Stage) throws {
        for value in ["+0", "-0", "0x0", " 0"] {
            let run = try runToExit(stage.name, ["--port", value])
            #expect(run.status == 64, "--port \(value): \(run.stderr)")
            #expect(run.stderr.hasPrefix("error: bad value '\(value)' for --port"), "\(run.stderr)")
        }
    }

    /// Seconds the server could not use (`1e19` crashed Stages 4 and 5 on the first client),
    /// and spellings other than plain decimals, are usage errors.
    @Test(arguments: Stage.queueing)
    func secondsAndCountsBeyondTheirBoundsExit64(stage: Stage) throws {
        var cases = [
            ["--work-delay", "1e19"], ["--work-delay", "0x10"], ["--work-delay", "86401"],
        ]
        if Stage.guarded.contains(where: { $0.name == stage.name }) {
            cases += [
                ["--idle-timeout", "1e19"], ["--idle-timeout", "0x10"],
                ["--idle-timeout", "86401"],
                ["--max-clients", "10001"], ["--max-clients", "+3"],
            ]
        }
        for arguments in cases {
            let run = try runToExit(stage.name, arguments + ["--port", "0"])
            #expect(run.status == 64, "\(arguments): \(run.stderr)")
            #expect(
                run.stderr.hasPrefix("error: bad value '\(arguments[1])' for \(arguments[0])"),
                "\(run.stderr)")
            #expect(run.stderr.hasSuffix("Run '\(stage.name) --help' for usage.\n"))
        }
    }

    /// The largest values accepted are ones the server can really use: it serves a client
    /// under them, and the idle timer (a deadline a day away) does not overflow.
    @Test(arguments: Stage.guarded)
    func theLargestAcceptedValuesServeAClient(stage: Stage) throws {
        try withServer(stage.name, ["--idle-timeout", "86400", "--max-clients", "10000"]) {
            server in
            let client = try TestClient(port: server.port)
            try client.send("a day to finish each line")
            #expect(try client.readLine() == stage.reply(to: "a day to finish each line", from: 0))
            client.close()
            try server.waitForLine("[client-0] disconnected")
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
