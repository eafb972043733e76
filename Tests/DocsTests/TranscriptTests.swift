import Foundation
import Glibc
import TestSupport
import Testing

/// Every ```session block in the docs is replayed against the real server, line by line.
///
/// `server$ CMD` starts the stage (shown for the reader; the test starts it on a free port),
/// `server| TEXT` is a line the server prints, `NAME$ nc …` opens a client, `NAME> TEXT` sends
/// a line, `NAME< TEXT` is the line that client receives, `NAME$ ^C` closes it, `NAME$ ^D`
/// closes its sending side, `server$ ^C` interrupts the server. `*` matches anything.
@Suite struct TranscriptTests {
    static let sessions = Docs.allBlocks.filter { $0.info.hasPrefix("session ") }

    @Test func theDocsHaveTranscripts() {
        #expect(Self.sessions.count >= 4)
    }

    /// True when `text` matches `pattern`, where `*` stands for any run of characters.
    static func matches(_ text: String, _ pattern: String) -> Bool {
        let pieces = pattern.components(separatedBy: "*")
        guard pieces.count > 1 else { return text == pattern }
        guard text.hasPrefix(pieces[0]) else { return false }
        var rest = text.dropFirst(pieces[0].count)
        for (index, piece) in pieces.enumerated().dropFirst() {
            if index == pieces.count - 1 {
                return rest.hasSuffix(piece) && rest.count >= piece.count
            }
            guard let found = rest.range(of: piece) else { return false }
            rest = rest[found.upperBound...]
        }
        return true
    }

    @Test(arguments: sessions)
    func transcriptReplaysAgainstTheRealServer(block: Docs.Block) throws {
        let words = block.info.split(separator: " ").map(String.init)
        let stage = words[1]
        let arguments = Array(words.dropFirst(2))
        try withServer(stage, arguments) { server in
            var clients: [String: TestClient] = [:]
            var seen = 0
            for (offset, line) in block.lines.enumerated() {
                let place = "\(block.file):\(block.line + 1 + offset)"
                let text = line.replacingOccurrences(
                    of: "127.0.0.1:9090", with: "127.0.0.1:\(server.port)")
                if text.trimmingCharacters(in: .whitespaces).isEmpty || text.hasPrefix("#") {
                    continue
                }
                if text == "server$ ^C" {
                    server.signal(SIGINT)
                } else if text.hasPrefix("server$ ") {
                    continue
                } else if text.hasPrefix("server| ") {
                    let pattern = String(text.dropFirst("server| ".count))
                    do {
                        seen =
                            try server.waitForLine(after: seen) { Self.matches($0, pattern) }.index
                            + 1
                    } catch {
                        Issue.record("\(place): the server did not print '\(pattern)': \(error)")
                        return
                    }
                } else if let split = text.firstIndex(where: { "$<>".contains($0) }),
                    text[text.index(after: split)...].hasPrefix(" ")
                {
                    let name = String(text[..<split])
                    let rest = String(text[text.index(split, offsetBy: 2)...])
                    switch text[split] {
                    case "$" where rest == "^C":
                        clients[name]?.close()
                        clients[name] = nil
                    case "$" where rest == "^D":
                        clients[name]?.shutdownWrite()
                    case "$":
                        clients[name] = try TestClient(port: server.port)
                    case ">":
                        let client = try #require(clients[name], "\(place): no client \(name)")
                        try client.send(rest)
                    default:
                        let client = try #require(clients[name], "\(place): no client \(name)")
                        let received = try client.readLine()
                        #expect(
                            Self.matches(received, rest), "\(place): \(name) received '\(received)'"
                        )
                    }
                } else {
                    Issue.record("\(place): not a transcript line: '\(line)'")
                }
            }
            for (name, client) in clients {
                #expect(
                    !client.hasPendingData,
                    "\(block): \(name) received more than the transcript shows")
            }
        }
    }
}
