import Glibc
import Net

/// `Client repeat`: every `interval` seconds each connection sends `PID: message`.
struct RepeatOptions: Equatable, Sendable {
    var server = SocketAddress(host: "127.0.0.1", port: 9090)
    var message = ""
    var interval = 1.0
    /// How many messages each connection sends; `nil` sends until Ctrl-C.
    var count: Int?
    var clients = 1
}

/// `Client load`: closed-loop load, one message in flight per connection.
struct LoadOptions: Equatable, Sendable {
    var server = SocketAddress(host: "127.0.0.1", port: 9090)
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
    case interactive(SocketAddress)
    case `repeat`(RepeatOptions)
    case load(LoadOptions)
    case measure(quick: Bool)
    case help
}

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

/// `--host` and `--port`, which every mode but measure takes.
extension OptionReader {
    /// Reads `--host` or `--port` into `server`; false for any other option.
    mutating func readServerOption(into server: inout SocketAddress) throws(UsageError) -> Bool {
        switch name {
        case "--host": server = SocketAddress(host: try host(), port: server.port)
        case "--port": server = SocketAddress(host: server.host, port: try port())
        default: return false
        }
        return true
    }
}

/// The most connections and messages a mode takes: enough for any load this machine can
/// give, few enough that the run's bookkeeping fits in memory.
let mostClients = ServerOptions.mostClients
let mostMessages = 1_000_000

extension Command {
    /// Parses `arguments` (without the program name).
    static func parse(_ arguments: [String]) throws(UsageError) -> Command {
        guard let first = arguments.first, !first.hasPrefix("-") else {
            var reader = OptionReader(arguments[...])
            return try parseInteractive(&reader)
        }
        var reader = OptionReader(arguments.dropFirst())
        switch first {
        case "repeat": return try parseRepeat(&reader)
        case "load": return try parseLoad(&reader)
        case "measure": return try parseMeasure(&reader)
        default:
            throw UsageError(
                message: "unknown mode '\(first)' (expected repeat, load or measure)")
        }
    }

    private static func parseInteractive(_ reader: inout OptionReader) throws(UsageError)
        -> Command
    {
        var server = SocketAddress(host: "127.0.0.1", port: 9090)
        while try reader.nextOption() != nil {
            guard try reader.readServerOption(into: &server) else { throw reader.unknown() }
        }
        return reader.helpRequested ? .help : .interactive(server)
    }

    private static func parseRepeat(_ reader: inout OptionReader) throws(UsageError) -> Command {
        var options = RepeatOptions()
        var (message, interval): (String?, Double?) = (nil, nil)
        while let name = try reader.nextOption() {
            if try reader.readServerOption(into: &options.server) { continue }
            switch name {
            case "--message": message = try reader.text()
            case "--interval": interval = try reader.seconds()
            case "--count": options.count = try reader.wholeNumber(upTo: mostMessages)
            case "--clients": options.clients = try reader.wholeNumber(upTo: mostClients)
            default: throw reader.unknown()
            }
        }
        if reader.helpRequested { return .help }
        guard let message else { throw UsageError(message: "repeat needs --message TEXT") }
        guard let interval else { throw UsageError(message: "repeat needs --interval SECONDS") }
        (options.message, options.interval) = (message, interval)
        return .repeat(options)
    }

    private static func parseLoad(_ reader: inout OptionReader) throws(UsageError) -> Command {
        var options = LoadOptions()
        var (clients, messages): (Int?, Int?) = (nil, nil)
        while let name = try reader.nextOption() {
            if try reader.readServerOption(into: &options.server) { continue }
            switch name {
            case "--clients": clients = try reader.wholeNumber(upTo: mostClients)
            case "--messages": messages = try reader.wholeNumber(upTo: mostMessages)
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

    private static func parseMeasure(_ reader: inout OptionReader) throws(UsageError) -> Command {
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
            error.exit(program: "Client")
        }
    }
}
