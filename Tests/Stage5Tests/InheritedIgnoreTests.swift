import Foundation
import Glibc
import TestSupport
import Testing

/// A signal that a process inherits as ignored stays ignored, by Unix convention: a shell starts
/// background jobs with SIGINT ignored, so that a Ctrl-C meant for the foreground job does not
/// stop them too. Stage 5 keeps such an ignore, and still shuts down gracefully on SIGTERM.
@Suite(.enabled(if: Stage.stage5.isTested)) struct InheritedIgnoreTests {
    @Test func anInheritedIgnoreOfSIGINTIsKeptAndSIGTERMStillShutsDown() throws {
        // The shell ignores SIGINT, then becomes the server: `exec` keeps an ignored signal
        // ignored, as it is in a background job that a script starts with `&`. The
        // `listening on` line is the server's own, printed once its handlers are installed.
        try withServer(Stage.stage5.name, [], afterShellCommands: "trap '' INT") { server in
            server.signal(SIGINT)
            // Had the server replaced the ignore with its handler, the SIGINT would have started
            // the shutdown, and this SIGTERM would be a second signal, which kills at once.
            server.signal(SIGTERM)
            try expect(server.waitForExit(), is: 0)
            #expect(server.lines.filter { $0 == "shutting down" }.count == 1, "\(server.lines)")
            #expect(
                server.lines.last == "shutdown complete: 0 clients served, 0 messages processed",
                "\(server.lines)")
        }
    }
}
