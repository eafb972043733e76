import Foundation
import Net
import TestSupport
import Testing

@testable import Stage3PriorityQueue

/// The queue on its own, without sockets. They test the finished stage's code, so they are
/// skipped while another server is judged (`WORKBOOK_STAGE`).
@Suite(.enabled(if: Stage.judged == nil)) struct MessageQueueTests {
    /// The queue needs a connection per message; these tests never send, so none is open.
    let nowhere = Connection(descriptor: -1, peer: SocketAddress(host: "0.0.0.0", port: 0))

    func push(
        _ queue: MessageQueue, _ text: String, _ priority: Priority, from client: String = "c"
    ) {
        queue.push(client: client, connection: nowhere, priority: priority, text: Array(text.utf8))
    }

    func popText(_ queue: MessageQueue) -> String {
        String(decoding: queue.pop().text, as: UTF8.self)
    }

    @Test func highestPriorityFirstThenOldestFirst() {
        let queue = MessageQueue()
        push(queue, "n1", .normal)
        push(queue, "l1", .low)
        push(queue, "u1", .urgent)
        push(queue, "n2", .normal)
        push(queue, "u2", .urgent)
        push(queue, "l2", .low)
        push(queue, "n3", .normal)
        #expect((0..<7).map { _ in popText(queue) } == ["u1", "u2", "n1", "n2", "n3", "l1", "l2"])
    }

    @Test func priorityPrefixesAreParsedAndRemoved() {
        let cases: [(String, Priority, String)] = [
            ("/urgent fire", .urgent, "fire"), ("/low later", .low, "later"),
            ("plain", .normal, "plain"), ("/urgentno space", .normal, "/urgentno space"),
            ("/urgent ", .urgent, ""), (" /urgent x", .normal, " /urgent x"),
        ]
        for (line, priority, text) in cases {
            let parsed = Priority.parse(Array(line.utf8))
            #expect(parsed.0 == priority, "\(line)")
            #expect(parsed.text == Array(text.utf8), "\(line)")
        }
    }

    @Test func aWaitingPopWakesOnPush() {
        let queue = MessageQueue()
        let popped = Locked<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let text = popText(queue)
            popped.withLock { $0 = text }
            done.signal()
        }.start()
        push(queue, "wake", .normal)
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(popped.withLock { $0 } == "wake")
    }

    @Test func manyProducersOneConsumerNothingLostOrDuplicated() {
        let queue = MessageQueue()
        let producers = 8
        let each = 2_000
        for producer in 0..<producers {
            Thread {
                for number in 0..<each {
                    push(queue, "\(producer):\(number)", .normal, from: "p\(producer)")
                }
            }.start()
        }
        var seen: [Int: [Int]] = [:]
        for _ in 0..<(producers * each) {
            let parts = popText(queue).split(separator: ":").map { Int($0)! }
            seen[parts[0], default: []].append(parts[1])
        }
        // Every message once, and each producer's messages in the order it pushed them.
        #expect(seen.count == producers)
        for producer in 0..<producers {
            #expect(seen[producer] == Array(0..<each))
        }
        #expect(queue.count == 0)
    }
}
