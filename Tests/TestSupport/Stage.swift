import Foundation
import Testing

/// What the tests need to know about a stage: its executable, and how it answers and logs a line.
/// Shared tests run against every stage in `Stage.all`; each stage's own tests add the rest.
///
/// The tests can also judge a server of the learner's own (docs/workshop.md): with
/// `WORKBOOK_STAGE=N` in the environment, the tests that run against Stage N run against the
/// executable `WORKBOOK_SERVER` names (`Workshop` unless set) instead, and every test for the
/// other stages is skipped. `Stage.stageN` is then that executable, with Stage N's expectations.
public struct Stage: Sendable, CustomStringConvertible {
    /// The executable to run.
    public let name: String
    /// Which stage's expectations apply: 1 for Stage 1, and so on.
    public let number: Int
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

    /// True for the stage whose clients hear every line (Stage 2's broadcast chat).
    public var broadcasts: Bool { number == 2 }

    /// False when `WORKBOOK_STAGE` names another stage: then this stage's own tests are skipped.
    public var isTested: Bool { Self.judged.map { $0 == number } ?? true }

    // The finished stages, as `swift build` makes them.
    private static let finished1 = Stage(
        name: "Stage1SingleThread", number: 1, contractArguments: [],
        replyFormat: { text, _ in text },
        logFormat: { text, client in "[client-\(client)] \(text)" })

    private static let finished2 = Stage(
        name: "Stage2ThreadPerClient", number: 2, contractArguments: [],
        replyFormat: { text, client in "[client-\(client)] \(text)" },
        logFormat: { text, client in "[client-\(client)] \(text)" })

    private static let finished3 = Stage(
        name: "Stage3PriorityQueue", number: 3, contractArguments: [],
        replyFormat: { text, _ in "Received: \(text)" },
        logFormat: { text, client in "[client-\(client)] [normal] \(text)" })

    private static let finished4 = Stage(
        name: "Stage4NonBlocking", number: 4, contractArguments: ["--max-clients", "200"],
        replyFormat: finished3.replyFormat, logFormat: finished3.logFormat)

    private static let finished5 = Stage(
        name: "Stage5Shutdown", number: 5, contractArguments: ["--max-clients", "200"],
        replyFormat: finished3.replyFormat, logFormat: finished3.logFormat)

    private static let finished6 = Stage(
        name: "Stage6EventLoop", number: 6, contractArguments: ["--max-clients", "200"],
        replyFormat: finished3.replyFormat, logFormat: finished3.logFormat)

    /// Every finished stage, in order.
    private static let finished = [
        finished1, finished2, finished3, finished4, finished5, finished6,
    ]

    public static let stage1 = tested(finished1)
    public static let stage2 = tested(finished2)
    public static let stage3 = tested(finished3)
    public static let stage4 = tested(finished4)
    public static let stage5 = tested(finished5)
    public static let stage6 = tested(finished6)

    /// Every stage the shared tests run against: all of them, or only the one being judged.
    public static let all = from(1)

    /// The stages that queue messages and ACK them (Stage 3 and every stage after it).
    public static let queueing = from(3)

    /// The stages with timeouts and a connection limit (Stage 4 and after).
    public static let guarded = from(4)

    /// The stage number `WORKBOOK_STAGE` names, or nil when the finished stages are tested.
    public static let judged: Int? = {
        guard let text = ProcessInfo.processInfo.environment["WORKBOOK_STAGE"] else { return nil }
        guard let number = Int(text), (1...6).contains(number) else {
            fatalError("WORKBOOK_STAGE must be a stage number from 1 to 6, not '\(text)'")
        }
        return number
    }()

    /// The executable judged in place of Stage `judged`.
    public static let judgedServer =
        ProcessInfo.processInfo.environment["WORKBOOK_SERVER"] ?? "Workshop"

    /// The stages numbered `first` or later that the tests run against.
    private static func from(_ first: Int) -> [Stage] {
        guard let judged else { return finished.filter { $0.number >= first } }
        return judged >= first ? [judgedStage(judged)] : []
    }

    /// `stage` itself, or the judged executable in its place when `WORKBOOK_STAGE` names it.
    private static func tested(_ stage: Stage) -> Stage {
        judged == stage.number ? judgedStage(stage.number) : stage
    }

    /// The judged executable with the expectations of Stage `number` (those of the latest
    /// finished stage up to it: a stage beyond the finished ones keeps the last one's protocol).
    private static func judgedStage(_ number: Int) -> Stage {
        let model = finished.last { $0.number <= number }!
        return Stage(
            name: judgedServer, number: number, contractArguments: model.contractArguments,
            replyFormat: model.replyFormat, logFormat: model.logFormat)
    }

    /// Skips the running test when it would start a finished stage (`Stage...`) while another
    /// executable is being judged: a test written for one stage needs no condition of its own to
    /// stay out of the way.
    static func skipUnlessTested(_ executable: String) throws {
        guard let judged, executable != judgedServer, executable.hasPrefix("Stage") else { return }
        try Test.cancel("WORKBOOK_STAGE=\(judged): \(executable) is not being judged")
    }
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
        while stage.broadcasts && !reply.hasSuffix(text) {
            reply = try client.readLine()
        }
        guard reply == stage.reply(to: text, from: number) else {
            throw TestFailure("a fresh client-\(number) got '\(reply)' from \(stage.name)")
        }
    }
}
