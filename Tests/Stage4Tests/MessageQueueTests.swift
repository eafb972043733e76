import Foundation
import Net
import TestSupport
import Testing

@testable import Stage4NonBlocking

/// Stage 4's queue on its own, without sockets: Stage 3's order, plus a limit per client that
/// makes a client's `push` wait until the consumer has finished one of its messages. They test
/// the finished stage's code, so they are skipped while another server is judged.
@Suite(.enabled(if: Stage.judged == nil)) struct MessageQueueTests {
    /// The queue needs a connection per message; these tests never send, so none is open.
    let nowhere = Connection(descriptor: -1, peer: SocketAddress(host: "0.0.0.0", port: 0))

    func push(
        _ queue: MessageQueue, _ text: String, _ priority: Priority = .normal,
        from client: String = "c"
    ) {
        queue.push(client: client, connection: nowhere, priority: priority, text: Array(text.utf8))
    }

    /// Runs `body` on a thread of its own; the semaphore is signalled when it returns.
    func inBackground(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        Thread {
            body()
            done.signal()
        }.start()
        return done
    }

    @Test func highestPriorityFirstThenOldestFirst() {
        let queue = MessageQueue()
        // From different clients, so that no client reaches its limit.
        for (number, (text, priority)) in [
            ("n1", Priority.normal), ("l1", .low), ("u1", .urgent), ("n2", .normal),
            ("u2", .urgent), ("l2", .low), ("n3", .normal),
        ].enumerated() {
            push(queue, text, priority, from: "c\(number)")
        }
        let order = (0..<7).map { _ in String(decoding: queue.pop().text, as: UTF8.self) }
        expect(order, is: ["u1", "u2", "n1", "n2", "n3", "l1", "l2"])
    }

    /// A client with `limitPerClient` messages unfinished waits in `push`; one finished message
    /// lets it go on. Another client is not held up meanwhile.
    @Test func aClientAtItsLimitWaitsUntilTheConsumerFinishesOne() {
        let queue = MessageQueue()
        let limit = MessageQueue.limitPerClient
        for number in 0..<limit { push(queue, "a\(number)", from: "a") }
        let pushed = inBackground { push(queue, "one too many", from: "a") }
        // It must still be waiting a while later. (A queue without the limit returns at once;
        // so short a wait can only let such a queue pass, never fail a correct one.)
        expect(pushed.wait(timeout: .now() + 0.2), is: .timedOut)
        let other = inBackground { push(queue, "b0", from: "b") }
        expect(other.wait(timeout: .now() + 10), is: .success)

        // Popping is not enough: the limit counts messages until they are finished.
        let first = queue.pop()
        expect(pushed.wait(timeout: .now() + 0.2), is: .timedOut)
        queue.finish(first)
        expect(pushed.wait(timeout: .now() + 10), is: .success)
        expect(queue.count, is: limit + 1)  // a1 ... a7, b0, and the one too many
    }

    @Test func waitUntilFinishedWaitsForEveryMessageOfThatClient() {
        let queue = MessageQueue()
        push(queue, "x", from: "a")
        push(queue, "y", from: "a")
        push(queue, "z", from: "b")
        let finished = inBackground { queue.waitUntilFinished("a") }
        let (x, y, z) = (queue.pop(), queue.pop(), queue.pop())
        queue.finish(x)
        queue.finish(z)
        expect(finished.wait(timeout: .now() + 0.2), is: .timedOut)
        queue.finish(y)
        expect(finished.wait(timeout: .now() + 10), is: .success)
        // A client with nothing unfinished does not wait at all.
        queue.waitUntilFinished("nobody")
    }

    @Test func manyProducersOneConsumerNothingLostOrDuplicated() {
        let queue = MessageQueue()
        let (producers, each) = (8, 2_000)
        for producer in 0..<producers {
            Thread {
                for number in 0..<each {
                    push(queue, "\(producer):\(number)", from: "p\(producer)")
                }
            }.start()
        }
        var seen: [Int: [Int]] = [:]
        for _ in 0..<(producers * each) {
            let message = queue.pop()
            let parts = String(decoding: message.text, as: UTF8.self).split(separator: ":")
            seen[Int(parts[0])!, default: []].append(Int(parts[1])!)
            // The producers wait for room, so every message must be finished to let them on.
            queue.finish(message)
        }
        // Every message once, and each producer's messages in the order it pushed them.
        expect(seen.count, is: producers)
        for producer in 0..<producers {
            expect(seen[producer], is: Array(0..<each))
        }
        expect(queue.count, is: 0)
    }
}
