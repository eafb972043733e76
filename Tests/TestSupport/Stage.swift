/// What the tests need to know about a stage: its executable, and how it answers and logs a line.
/// Shared tests run against every stage in `Stage.all`; each stage's own tests add the rest.
public struct Stage: Sendable, CustomStringConvertible {
    public let name: String
    /// Arguments that keep a stage's later lessons out of the way of a shared test (for example
    /// a connection limit high enough for every client a test opens).
    public let contractArguments: [String]
    private let replyFormat: @Sendable (_ text: String, _ client: Int) -> String
    private let logFormat: @Sendable (_ text: String, _ client: Int) -> String

    public var description: String { name }

    /// The line a client receives after sending `text` as `client-N`.
    public func reply(to text: String, from client: Int) -> String { replyFormat(text, client) }

    /// The line the server logs when `client-N` sends `text`.
    public func logLine(for text: String, from client: Int) -> String { logFormat(text, client) }

    public static let stage1 = Stage(
        name: "Stage1SingleThread", contractArguments: [],
        replyFormat: { text, _ in text },
        logFormat: { text, client in "[client-\(client)] \(text)" })

    public static let stage2 = Stage(
        name: "Stage2ThreadPerClient", contractArguments: [],
        replyFormat: { text, client in "[client-\(client)] \(text)" },
        logFormat: { text, client in "[client-\(client)] \(text)" })

    public static let stage3 = Stage(
        name: "Stage3PriorityQueue", contractArguments: [],
        replyFormat: { text, _ in "Received: \(text)" },
        logFormat: { text, client in "[client-\(client)] [normal] \(text)" })

    public static let stage4 = Stage(
        name: "Stage4NonBlocking", contractArguments: ["--max-clients", "200"],
        replyFormat: stage3.replyFormat, logFormat: stage3.logFormat)

    public static let stage5 = Stage(
        name: "Stage5Shutdown", contractArguments: ["--max-clients", "200"],
        replyFormat: stage3.replyFormat, logFormat: stage3.logFormat)

    public static let all: [Stage] = [stage1, stage2, stage3, stage4, stage5]

    /// The stages that queue messages and ACK them (Stage 3 and every stage after it).
    public static let queueing: [Stage] = [stage3, stage4, stage5]

    /// The stages with timeouts and a connection limit (Stage 4 and after).
    public static let guarded: [Stage] = [stage4, stage5]
}

extension ServerProcess {
    /// Connects a fresh client, sends one line and checks the reply: the proof, after something
    /// hostile, that the server is still serving. `number` is the id the server will give it.
    public func checkStillServing(_ stage: Stage, asClient number: Int) throws {
        let client = try TestClient(port: port)
        let text = "still serving client-\(number)"
        try client.send(text)
        var reply = try client.readLine()
        // Stage 2 may first relay lines that other clients sent before this one connected.
        while stage.name == Stage.stage2.name && !reply.hasSuffix(text) {
            reply = try client.readLine()
        }
        guard reply == stage.reply(to: text, from: number) else {
            throw TestFailure("a fresh client-\(number) got '\(reply)' from \(stage.name)")
        }
    }
}
