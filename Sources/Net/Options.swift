import Glibc

/// The command-line options every stage understands, and those only later stages add.
///
/// Each stage names the extra options it accepts; any other option is an error there, so a
/// learner who passes `--max-clients` to Stage 1 is told it does not exist yet.
public struct ServerOptions: Equatable, Sendable {
    public var host = "127.0.0.1"
    public var port: UInt16 = 9090
    /// Stage 3 on: seconds the consumer spends on each message.
    public var workDelay = 0.0
    /// Stage 4 on: how many clients may be connected at once.
    public var maxClients = 3
    /// Stage 4 on: seconds a client may take to complete a line.
    public var idleTimeout = 5.0
    /// Stage 5 on: the longest a graceful shutdown may take, in seconds, from the signal to exit.
    public var shutdownTimeout = 5.0

    /// The options a stage may add to `--host` and `--port`.
    public enum Extra: CaseIterable, Sendable {
        case workDelay, maxClients, idleTimeout, shutdownTimeout
    }

    /// Why the command line could not be understood; printed as `error: MESSAGE`.
    public struct UsageError: Error, Equatable, CustomStringConvertible {
        public let message: String
        public init(message: String) { self.message = message }
        public var description: String { message }
    }

    /// The exit status for a usage error, as `sysexits.h` names it: `EX_USAGE`.
    public static let usageExitStatus: Int32 = 64

    public init() {}

    /// Parses `arguments` (without the program name). Returns `nil` when help was asked for.
    public static func parse(
        _ arguments: [String], accepting extras: Set<Extra> = []
    ) throws(UsageError) -> ServerOptions? {
        var options = ServerOptions()
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            if argument == "-h" || argument == "--help" { return nil }
            // Both `--port 9090` and `--port=9090` are accepted.
            var name = argument
            var inlineValue: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            }
            func value() throws(UsageError) -> String {
                if let inlineValue { return inlineValue }
                guard let next = remaining.popFirst() else {
                    throw UsageError(message: "\(name) needs a value")
                }
                return next
            }
            func bad(_ text: String, _ expected: String) -> UsageError {
                UsageError(message: "bad value '\(text)' for \(name) (expected \(expected))")
            }
            switch name {
            case "--host":
                let text = try value()
                guard SocketAddress.isNumericHost(text) else {
                    throw bad(text, "a numeric IPv4 or IPv6 address, such as 127.0.0.1")
                }
                options.host = text
            case "--port":
                let text = try value()
                guard let port = UInt16(text) else { throw bad(text, "a port from 0 to 65535") }
                options.port = port
            case "--work-delay" where extras.contains(.workDelay):
                let text = try value()
                guard let seconds = Double(text), seconds >= 0, seconds.isFinite else {
                    throw bad(text, "seconds, 0 or more")
                }
                options.workDelay = seconds
            case "--max-clients" where extras.contains(.maxClients):
                let text = try value()
                guard let count = Int(text), count >= 1 else {
                    throw bad(text, "a whole number, 1 or more")
                }
                options.maxClients = count
            case "--idle-timeout" where extras.contains(.idleTimeout):
                let text = try value()
                guard let seconds = Double(text), seconds > 0, seconds.isFinite else {
                    throw bad(text, "seconds, more than 0")
                }
                options.idleTimeout = seconds
            case "--shutdown-timeout" where extras.contains(.shutdownTimeout):
                let text = try value()
                guard let seconds = Double(text), seconds > 0, seconds.isFinite else {
                    throw bad(text, "seconds, more than 0")
                }
                options.shutdownTimeout = seconds
            default:
                if argument.hasPrefix("-") {
                    throw UsageError(message: "unknown option '\(name)'")
                }
                throw UsageError(message: "unexpected argument '\(argument)'")
            }
        }
        return options
    }

    /// The text `--help` prints.
    public static func usage(program: String, accepting extras: Set<Extra> = []) -> String {
        var lines = [
            "usage: \(program) [options]",
            "",
            "options:",
            "  --host ADDR            address to listen on (default 127.0.0.1)",
            "  --port N               port to listen on; 0 picks a free one (default 9090)",
        ]
        if extras.contains(.workDelay) {
            lines.append(
                "  --work-delay SECONDS   time the consumer spends per message (default 0)")
        }
        if extras.contains(.maxClients) {
            lines.append("  --max-clients N        clients served at once (default 3)")
        }
        if extras.contains(.idleTimeout) {
            lines.append("  --idle-timeout SECONDS time allowed to complete a line (default 5)")
        }
        if extras.contains(.shutdownTimeout) {
            lines.append(
                "  --shutdown-timeout SECONDS  longest a graceful shutdown may take (default 5)")
        }
        lines.append("  -h, --help             show this help")
        return lines.joined(separator: "\n")
    }

    /// Parses the process's own arguments. Prints help and exits 0 when asked for it; prints the
    /// error with a hint and exits 64 when the command line is wrong.
    public static func parseOrExit(program: String, accepting extras: Set<Extra> = [])
        -> ServerOptions
    {
        do throws(UsageError) {
            if let options = try parse(Array(CommandLine.arguments.dropFirst()), accepting: extras)
            {
                return options
            }
            log(usage(program: program, accepting: extras))
            exit(0)
        } catch {
            logError("error: \(error)")
            logError("Run '\(program) --help' for usage.")
            exit(usageExitStatus)
        }
    }
}
