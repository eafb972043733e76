import Glibc
import Net

/// Where the server is: a numeric address and a port, as the stages listen on.
struct Endpoint: Equatable, Sendable, CustomStringConvertible {
    var host = "127.0.0.1"
    var port: UInt16 = 9090

    var description: String { SocketAddress(host: host, port: port).description }
}

/// `Client repeat`: the parrot. Every `interval` seconds each connection sends `PID: message`.
struct RepeatOptions: Equatable, Sendable {
    var server = Endpoint()
    var message = ""
    var interval = 1.0
    /// How many messages each connection sends; `nil` sends until Ctrl-C.
    var count: Int?
    var clients = 1
}

/// `Client load`: closed-loop load, one message in flight per connection.
struct LoadOptions: Equatable, Sendable {
    var server = Endpoint()
    var clients = 1
    /// Messages per connection.
    var messages = 1
    /// Put before every token, such as `/urgent ` to load a stage's urgent lane.
    var prefix = ""
    /// Seconds after which the run stops, answered or not.
    var timeout = 60.0
}

/// What the command line asks for.
enum Command: Equatable, Sendable {
    case interactive(Endpoint)
    case parrot(RepeatOptions)
    case load(LoadOptions)
    case measure(quick: Bool)
    case help
}

/// Why the command line could not be understood; printed as `error: MESSAGE`.
struct UsageError: Error, Equatable, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// The exit status for a usage error, as `sysexits.h` names it: `EX_USAGE`. The stages use it too.
let usageExitStatus: Int32 = 64

let usage = """
    usage: Client [--host ADDR] [--port N]
           Client repeat --message TEXT --interval SECONDS [--count N] [--clients K]
           Client load --clients C --messages M [--prefix TEXT] [--timeout SECONDS]
           Client measure [--quick]

    modes:
      (none)     interactive: lines typed go to the server, lines received are printed
      repeat     each of K connections (default 1) sends 'PID: TEXT' every interval, N times
                 (default: until Ctrl-C), and prints what comes back
      load       closed loop: each of C connections sends M token lines, each one after the
                 reply to the one before; prints messages/s and round-trip latency
                 (--prefix goes before every token, such as '/urgent '; --timeout, default 60)
      measure    starts every stage built next to this executable, runs the same scenarios
                 against each, and prints one Markdown table (--quick: tiny scenarios)

    options of every mode but measure:
      --host ADDR            server address, numeric IPv4 or IPv6 (default 127.0.0.1)
      --port N               server port (default 9090)

      -h, --help             show this help
    """

/// Reads the command line one option at a time; `--port 9090` and `--port=9090` mean the same.
private struct ArgumentReader {
    private var remaining: ArraySlice<String>
    /// The option being read, without any `=value`, for error messages.
    private(set) var name = ""
    private var inlineValue: String?
    /// Set when `-h` or `--help` was met: reading stops there, and nothing else is checked.
    private(set) var helpRequested = false

    init(_ arguments: ArraySlice<String>) {
        remaining = arguments
    }

    /// The next option's name, or `nil` when none is left or help was asked for. A stray
    /// argument is an error.
    mutating func nextOption() throws(UsageError) -> String? {
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

    /// The current option's value, converted by `convert`; `expected` says what would do.
    mutating func value<Value>(
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

    /// An option that takes no value, such as `--quick`.
    func flag() throws(UsageError) {
        if inlineValue != nil { throw UsageError(message: "\(name) takes no value") }
    }

    mutating func text() throws(UsageError) -> String {
        try value(expected: "text") { $0 }
    }

    mutating func wholeNumber() throws(UsageError) -> Int {
        try value(expected: "a whole number, 1 or more") { Int($0).flatMap { $0 >= 1 ? $0 : nil } }
    }

    mutating func seconds() throws(UsageError) -> Double {
        try value(expected: "seconds, more than 0") {
            Double($0).flatMap { $0 > 0 && $0.isFinite ? $0 : nil }
        }
    }

    /// Reads `--host` or `--port` into `endpoint`; false for any other option.
    mutating func readEndpointOption(into endpoint: inout Endpoint) throws(UsageError) -> Bool {
        switch name {
        case "--host":
            endpoint.host = try value(
                expected: "a numeric IPv4 or IPv6 address, such as 127.0.0.1"
            ) { SocketAddress.isNumericHost($0) ? $0 : nil }
        case "--port":
            endpoint.port = try value(expected: "a port from 0 to 65535") { UInt16($0) }
        default:
            return false
        }
        return true
    }

    func unknown() -> UsageError {
        UsageError(message: "unknown option '\(name)'")
    }
}

extension Command {
    /// Parses `arguments` (without the program name).
    static func parse(_ arguments: [String]) throws(UsageError) -> Command {
        guard let first = arguments.first, !first.hasPrefix("-") else {
            var reader = ArgumentReader(arguments[...])
            return try parseInteractive(&reader)
        }
        var reader = ArgumentReader(arguments.dropFirst())
        switch first {
        case "repeat": return try parseRepeat(&reader)
        case "load": return try parseLoad(&reader)
        case "measure": return try parseMeasure(&reader)
        default:
            throw UsageError(
                message: "unknown mode '\(first)' (expected repeat, load or measure)")
        }
    }

    private static func parseInteractive(_ reader: inout ArgumentReader) throws(UsageError)
        -> Command
    {
        var server = Endpoint()
        while try reader.nextOption() != nil {
            guard try reader.readEndpointOption(into: &server) else { throw reader.unknown() }
        }
        return reader.helpRequested ? .help : .interactive(server)
    }

    private static func parseRepeat(_ reader: inout ArgumentReader) throws(UsageError) -> Command {
        var options = RepeatOptions()
        var (message, interval): (String?, Double?) = (nil, nil)
        while let name = try reader.nextOption() {
            if try reader.readEndpointOption(into: &options.server) { continue }
            switch name {
            case "--message": message = try reader.text()
            case "--interval": interval = try reader.seconds()
            case "--count": options.count = try reader.wholeNumber()
            case "--clients": options.clients = try reader.wholeNumber()
            default: throw reader.unknown()
            }
        }
        if reader.helpRequested { return .help }
        guard let message else { throw UsageError(message: "repeat needs --message TEXT") }
        guard let interval else { throw UsageError(message: "repeat needs --interval SECONDS") }
        (options.message, options.interval) = (message, interval)
        return .parrot(options)
    }

    private static func parseLoad(_ reader: inout ArgumentReader) throws(UsageError) -> Command {
        var options = LoadOptions()
        var (clients, messages): (Int?, Int?) = (nil, nil)
        while let name = try reader.nextOption() {
            if try reader.readEndpointOption(into: &options.server) { continue }
            switch name {
            case "--clients": clients = try reader.wholeNumber()
            case "--messages": messages = try reader.wholeNumber()
            case "--prefix": options.prefix = try reader.text()
            case "--timeout": options.timeout = try reader.seconds()
            default: throw reader.unknown()
            }
        }
        if reader.helpRequested { return .help }
        guard let clients else { throw UsageError(message: "load needs --clients C") }
        guard let messages else { throw UsageError(message: "load needs --messages M") }
        (options.clients, options.messages) = (clients, messages)
        return .load(options)
    }

    private static func parseMeasure(_ reader: inout ArgumentReader) throws(UsageError) -> Command {
        var quick = false
        while let name = try reader.nextOption() {
            guard name == "--quick" else { throw reader.unknown() }
            try reader.flag()
            quick = true
        }
        return reader.helpRequested ? .help : .measure(quick: quick)
    }

    /// Parses the process's own arguments. Prints help and exits 0 when asked for it; prints the
    /// error with a hint and exits 64 when the command line is wrong.
    static func parseOrExit() -> Command {
        do throws(UsageError) {
            let command = try parse(Array(CommandLine.arguments.dropFirst()))
            if command == .help {
                log(usage)
                exit(0)
            }
            return command
        } catch {
            logError("error: \(error)")
            logError("Run 'Client --help' for usage.")
            exit(usageExitStatus)
        }
    }
}
