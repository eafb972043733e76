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
        #expect(throws: UsageError(message: "unknown option '--work-delay'")) {
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
        #expect(throws: UsageError(message: message)) {
            try ServerOptions.parse(arguments)
        }
    }

    @Test(arguments: [
        ["--work-delay", "-1"], ["--work-delay", "nan"], ["--max-clients", "0"],
        ["--idle-timeout", "0"], ["--idle-timeout", "inf"],
    ])
    func laterStageValuesAreChecked(arguments: [String]) {
        #expect(throws: UsageError.self) {
            try ServerOptions.parse(arguments, accepting: Set(ServerOptions.Extra.allCases))
        }
    }

    /// Issue 9 item 5: a value is accepted only in its plain decimal spelling, and only when the
    /// stage can use it. Signs, hexadecimal, exponents and values past the bound are refused.
    @Test(arguments: [
        ["--port", "+80"], ["--port", "-0"], ["--port", "0x50"], ["--port", " 80"], ["--port", ""],
        ["--port", "8_0"], ["--idle-timeout", "1e19"], ["--idle-timeout", "0x10"],
        ["--idle-timeout", "1e2"], ["--idle-timeout", "+1"], ["--idle-timeout", ".5"],
        ["--idle-timeout", "5."], ["--idle-timeout", "86401"], ["--idle-timeout", "infinity"],
        ["--work-delay", "-0"], ["--work-delay", "0x1p-2"], ["--work-delay", "86400.5"],
        ["--shutdown-timeout", "1e300"], ["--shutdown-timeout", "0"],
        ["--shutdown-timeout", "86401"], ["--max-clients", "+3"], ["--max-clients", "10001"],
        ["--max-clients", "1e3"], ["--max-clients", "9223372036854775808"],
    ])
    func onlyPlainDecimalValuesWithinTheirBoundsAreAccepted(arguments: [String]) {
        #expect(throws: UsageError.self, "\(arguments)") {
            try ServerOptions.parse(arguments, accepting: Set(ServerOptions.Extra.allCases))
        }
    }

    @Test func theBoundsThemselvesAreAccepted() throws {
        let largest = try #require(
            try ServerOptions.parse(
                [
                    "--port", "65535", "--work-delay", "86400", "--max-clients", "10000",
                    "--idle-timeout", "86400", "--shutdown-timeout=86400.0",
                ], accepting: Set(ServerOptions.Extra.allCases)))
        #expect(largest.port == 65535)
        #expect(largest.workDelay == 86400)
        #expect(largest.maxClients == 10000)
        #expect(largest.idleTimeout == 86400)
        #expect(largest.shutdownTimeout == 86400)
        let smallest = try #require(
            try ServerOptions.parse(
                [
                    "--port", "0", "--work-delay", "0", "--max-clients", "1", "--idle-timeout",
                    "0.001",
                ],
                accepting: Set(ServerOptions.Extra.allCases)))
        #expect(smallest.port == 0)
        #expect(smallest.workDelay == 0)
        #expect(smallest.maxClients == 1)
        #expect(smallest.idleTimeout == 0.001)
        // Leading zeros are still decimal digits.
        #expect(try ServerOptions.parse(["--port", "0080"])?.port == 80)
    }

    /// Seconds go back to the client as it would write them (`ERR idle timeout (0.00001s)`).
    @Test(arguments: [
        (5.0, "5"), (0.5, "0.5"), (86400.0, "86400"), (0.05, "0.05"), (0.0001, "0.0001"),
        (0.00001, "0.00001"), (0.000015, "0.000015"), (1.5e-9, "0.0000000015"),
    ])
    func secondsAreWrittenAsAPersonWritesThem(seconds: Double, text: String) {
        #expect(formatSeconds(seconds) == text)
    }

    @Test func usageListsOnlyAcceptedOptions() {
        let stage1 = ServerOptions.usage(program: "S")
        #expect(stage1.hasPrefix("usage: S [options]"))
        #expect(!stage1.contains("--work-delay"))
        #expect(
            ServerOptions.usage(program: "S", accepting: [.maxClients]).contains("--max-clients N"))
    }
}
