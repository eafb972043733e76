// Workshop: your own server, judged by the same tests as the finished stages.
//
// This is the starting point for Stage 1 (docs/workshop.md says how to start any other stage,
// docs/01-single-thread.md what Stage 1 must do). It parses the options, listens, and says where
// it listens; serving clients is yours to write. Then run its tests:
//
//     scripts/workshop.sh test 1
import Glibc
import Net

let options = ServerOptions.parseOrExit(program: "Workshop")

let listener = Listener.openOrExit(host: options.host, port: options.port)
// The tests wait for this line to learn the port: it must come first.
log("listening on \(listener.address)")

// Your Stage 1, one step at a time:
// 1. Accept a client (`listener.accept()`) and log `[client-0] connected from ADDRESS`.
// 2. Read its lines (`LineReader`), log each one, and send it back (`sendAll`).
// 3. When it leaves, log `[client-0] disconnected` and accept the next client.
while true {
    // Until then, the server only waits; clients queue up in the backlog and hear nothing.
    pause()
}
