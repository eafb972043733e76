// The companion client: one executable, four modes. See `usage` in ClientOptions.swift.
switch Command.parseOrExit() {
case .interactive(let server): runInteractive(server)
case .repeat(let options): runRepeat(options)
case .load(let options): runLoadCommand(options)
case .measure(let quick): runMeasure(quick: quick)
case .help: break  // Handled by `parseOrExit`, which has printed it and exited.
}
