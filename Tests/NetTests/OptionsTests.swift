import Net
import Testing

@Suite struct OptionsTests {
    @Test func defaults() throws {
        let options = try #require(try ServerOptions.parse([]))
        #expect(options.host == "127.0.0.1")
        #expect(options.port == 9090)
    }

    @Test func hostAndPortInBothForms() throws {
        let spaced = try #require(try ServerOptions.parse(["--host", "::1", "--port", "0"]))
        #expect(spaced.host == "::1")
        #expect(spaced.port == 0)
        let joined = try #require(try ServerOptions.parse(["--host=0.0.0.0", "--port=8080"]))
        #expect(joined.host == "0.0.0.0")
        #expect(joined.port == 8080)
    }

    @Test func helpReturnsNil() throws {
        #expect(try ServerOptions.parse(["--port", "1", "-h"]) == nil)
        #expect(try ServerOptions.parse(["--help"]) == nil)
    }

    @Test func laterStageOptionsOnlyWhereAccepted() throws {
        #expect(throws: ServerOptions.UsageError(message: "unknown option '--work-delay'")) {
            try ServerOptions.parse(["--work-delay", "1"])
        }
        let options = try #require(
            try ServerOptions.parse(
                ["--work-delay", "0.25", "--max-clients", "7", "--idle-timeout=1.5"],
                accepting: Set(ServerOptions.Extra.allCases)))
        #expect(options.workDelay == 0.25)
        #expect(options.maxClients == 7)
        #expect(options.idleTimeout == 1.5)
    }

    @Test(arguments: [
        (["--port", "x"], "bad value 'x' for --port (expected a port from 0 to 65535)"),
        (["--port", "70000"], "bad value '70000' for --port (expected a port from 0 to 65535)"),
        (["--port"], "--port needs a value"),
        (
            ["--host", "localhost"],
            "bad value 'localhost' for --host (expected a numeric IPv4 or IPv6 address, such as 127.0.0.1)"
        ),
        (["-x"], "unknown option '-x'"),
        (["extra"], "unexpected argument 'extra'"),
    ])
    func errorsSayWhatIsWrong(arguments: [String], message: String) {
        #expect(throws: ServerOptions.UsageError(message: message)) {
            try ServerOptions.parse(arguments)
        }
    }

    @Test(arguments: [
        ["--work-delay", "-1"], ["--work-delay", "nan"], ["--max-clients", "0"],
        ["--idle-timeout", "0"], ["--idle-timeout", "inf"],
    ])
    func laterStageValuesAreChecked(arguments: [String]) {
        #expect(throws: ServerOptions.UsageError.self) {
            try ServerOptions.parse(arguments, accepting: Set(ServerOptions.Extra.allCases))
        }
    }

    @Test func usageListsOnlyAcceptedOptions() {
        let stage1 = ServerOptions.usage(program: "S")
        #expect(stage1.hasPrefix("usage: S [options]"))
        #expect(!stage1.contains("--work-delay"))
        #expect(
            ServerOptions.usage(program: "S", accepting: [.maxClients]).contains("--max-clients N"))
    }
}
