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

    /// The most clients `--max-clients` allows. Every client is a thread and a descriptor; ten
    /// thousand of them is already past a default `ulimit -n` of 1024, and far past what a
    /// thread per client is good for.
    public static let mostClients = 10_000

    public init() {}

    /// Parses `arguments` (without the program name). Returns `nil` when help was asked for.
    public static func parse(
        _ arguments: [String], accepting extras: Set<Extra> = []
    ) throws(UsageError) -> ServerOptions? {
        var options = ServerOptions()
        var reader = OptionReader(arguments)
        while let name = try reader.nextOption() {
            switch name {
            case "--host": options.host = try reader.host()
            case "--port": options.port = try reader.port()
            case "--work-delay" where extras.contains(.workDelay):
                options.workDelay = try reader.seconds(allowingZero: true)
            case "--max-clients" where extras.contains(.maxClients):
                options.maxClients = try reader.wholeNumber(upTo: mostClients)
            case "--idle-timeout" where extras.contains(.idleTimeout):
                options.idleTimeout = try reader.seconds()
            case "--shutdown-timeout" where extras.contains(.shutdownTimeout):
                options.shutdownTimeout = try reader.seconds()
            default:
                throw reader.unknown()
            }
        }
        return reader.helpRequested ? nil : options
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
    ///
    /// Every stage calls it first, so it first puts `/dev/null` on any standard descriptor the
    /// server was started without, before any socket or pipe can take its number.
    public static func parseOrExit(program: String, accepting extras: Set<Extra> = [])
        -> ServerOptions
    {
        reopenClosedStandardDescriptors()
        do throws(UsageError) {
            if let options = try parse(Array(CommandLine.arguments.dropFirst()), accepting: extras)
            {
                return options
            }
            log(usage(program: program, accepting: extras))
            exit(0)
        } catch {
            error.exit(program: program)
        }
    }
}

/// Why the command line could not be understood; printed as `error: MESSAGE`.
public struct UsageError: Error, Equatable, CustomStringConvertible, Sendable {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }

    /// The exit status for a usage error, as `sysexits.h` names it: `EX_USAGE`.
    public static let exitStatus: Int32 = 64

    /// Prints the error and a hint on stderr, two lines, and exits with status 64.
    public func exit(program: String) -> Never {
        logError("error: \(message)")
        logError("Run '\(program) --help' for usage.")
        Glibc.exit(Self.exitStatus)
    }
}

/// Reads a command line one option at a time, for the stages and the client alike.
///
/// An option takes its value as the next argument or after `=`: `--port 9090` and
/// `--port=9090` mean the same. Numbers are read in one spelling only, plain decimal digits
/// (`8080`, `0.25`): no sign, no exponent, no hexadecimal, no spaces. Swift's `Double("0x10")`
/// and `UInt16("+80")` would take those too, and a value the server then cannot use (a timeout
/// of `1e19` seconds overflows `Duration`) must be refused here, not crash a client thread later.
public struct OptionReader {
    private var remaining: ArraySlice<String>
    /// The option being read, without any `=value`, for error messages.
    public private(set) var name = ""
    private var inlineValue: String?
    /// Set when `-h` or `--help` was met: reading stops there, and nothing after it is checked.
    public private(set) var helpRequested = false

    /// The longest any option measured in seconds may be: one day. Longer waits are surely a
    /// typing mistake, and every bound below it is one the system calls can use.
    public static let longestSeconds = 86_400.0

    public init(_ arguments: some Sequence<String>) {
        remaining = ArraySlice(arguments)
    }

    /// The next option's name, or `nil` when none is left or help was asked for. An argument
    /// that is not an option is an error.
    public mutating func nextOption() throws(UsageError) -> String? {
        guard let argument = remaining.popFirst() else { return nil }
        if argument == "-h" || argument == "--help" {
            helpRequested = true
            return nil
        }
        guard argument.hasPrefix("-") else {
            throw UsageError(message: "unexpected argument '\(argument)'")
        }
        name = argument
        inlineValue = nil
        if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
            name = String(argument[..<equals])
            inlineValue = String(argument[argument.index(after: equals)...])
        }
        return name
    }

    /// The error for an option the caller does not know.
    public func unknown() -> UsageError {
        UsageError(message: "unknown option '\(name)'")
    }

    /// Checks that the current option, such as `--quick`, was given no value.
    public func flag() throws(UsageError) {
        if inlineValue != nil { throw UsageError(message: "\(name) takes no value") }
    }

    /// The current option's value, converted by `convert`; `expected` says what would do.
    public mutating func value<Value>(
        expected: String, _ convert: (String) -> Value?
    ) throws(UsageError) -> Value {
        let text: String
        if let inlineValue {
            text = inlineValue
        } else if let next = remaining.popFirst() {
            text = next
        } else {
            throw UsageError(message: "\(name) needs a value")
        }
        guard let value = convert(text) else {
            throw UsageError(message: "bad value '\(text)' for \(name) (expected \(expected))")
        }
        return value
    }

    public mutating func text() throws(UsageError) -> String {
        try value(expected: "text") { $0 }
    }

    /// A numeric IPv4 or IPv6 address; names are not looked up.
    public mutating func host() throws(UsageError) -> String {
        try value(expected: "a numeric IPv4 or IPv6 address, such as 127.0.0.1") {
            SocketAddress.isNumericHost($0) ? $0 : nil
        }
    }

    public mutating func port() throws(UsageError) -> UInt16 {
        try value(expected: "a port from 0 to 65535") { Self.isDigits($0) ? UInt16($0) : nil }
    }

    /// A whole number from 1 to `most`.
    public mutating func wholeNumber(upTo most: Int) throws(UsageError) -> Int {
        try value(expected: "a whole number from 1 to \(most)") {
            guard Self.isDigits($0), let number = Int($0), (1...most).contains(number) else {
                return nil
            }
            return number
        }
    }

    /// Seconds, fractions allowed (`0.25`), more than 0 (or 0 too, `allowingZero`) and at most
    /// `longestSeconds`.
    public mutating func seconds(allowingZero: Bool = false) throws(UsageError) -> Double {
        let most = formatSeconds(Self.longestSeconds)
        let expected =
            allowingZero
            ? "seconds from 0 to \(most), such as 0.25"
            : "seconds, more than 0 and at most \(most), such as 0.25"
        return try value(expected: expected) {
            // DIGITS or DIGITS.DIGITS: what `Double` reads beyond that (`1e3`, `0x10`, `inf`,
            // `-0`) is refused.
            let parts = $0.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count <= 2, parts.allSatisfy(Self.isDigits), let seconds = Double($0),
                seconds <= Self.longestSeconds, seconds > 0 || (allowingZero && seconds == 0)
            else { return nil }
            return seconds
        }
    }

    /// True for one or more of the ASCII digits 0 to 9, and nothing else.
    private static func isDigits(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { (48...57).contains($0) }
    }
}
