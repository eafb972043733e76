import Foundation
import Net
import TestSupport
import Testing

@testable import Stage5Shutdown

/// Stage 5's queue on its own, without sockets: Stage 4's order and limit per client, plus
/// `close`, which lets the consumer drain what is queued and then stop. They test the finished
/// stage's code, so they are skipped while another server is judged. The order, limit and
/// many-producer tests repeat Stage 4's on purpose, adapted to a `pop` that may return nil: the
/// queue here is a changed copy of Stage 4's, so it is tested again rather than trusted.
@Suite(.enabled(if: Stage.judged == nil)) struct MessageQueueTests {
    /// The queue needs a connection per message; these tests never send, so none is open.
    let nowhere = Connection(descriptor: -1, peer: SocketAddress(host: "0.0.0.0", port: 0))

    @discardableResult
    func push(
        _ queue: MessageQueue, _ text: String, _ priority: Priority = .normal,
        from client: String = "c"
    ) -> Bool {
        queue.push(client: client, connection: nowhere, priority: priority, text: Array(text.utf8))
    }

    func text(_ message: Message?) -> String? {
        message.map { String(decoding: $0.text, as: UTF8.self) }
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
        let order = (0..<7).map { _ in text(queue.pop()) }
        expect(order, is: ["u1", "u2", "n1", "n2", "n3", "l1", "l2"])
    }

    /// As in Stage 4: at `limitPerClient` unfinished messages a client's `push` waits until the
    /// consumer finishes one of them.
    @Test func aClientAtItsLimitWaitsUntilTheConsumerFinishesOne() throws {
        let queue = MessageQueue()
        for number in 0..<MessageQueue.limitPerClient { push(queue, "a\(number)", from: "a") }
        let pushed = inBackground { push(queue, "one too many", from: "a") }
        // Still waiting a while later. (So short a wait can only let a queue without the limit
        // pass, never fail a correct one.)
        expect(pushed.wait(timeout: .now() + 0.2), is: .timedOut)
        queue.finish(try #require(queue.pop()))
        expect(pushed.wait(timeout: .now() + 10), is: .success)
    }

    /// Closing wakes a push waiting for room, which gives up and queues nothing; the consumer
    /// still gets every message queued before, and then `nil`.
    @Test func closingLetsTheConsumerDrainTheQueueThenEnds() throws {
        let queue = MessageQueue()
        for number in 0..<MessageQueue.limitPerClient { push(queue, "a\(number)", from: "a") }
        let refused = Locked<Bool?>(nil)
        let pushed = inBackground {
            let accepted = push(queue, "too late", from: "a")
            refused.withLock { $0 = !accepted }
        }
        expect(pushed.wait(timeout: .now() + 0.2), is: .timedOut)
        queue.close()
        expect(pushed.wait(timeout: .now() + 10), is: .success)
        expect(refused.withLock { $0 }, is: true)
        expect(push(queue, "after closing", from: "b"), is: false)

        let drained = (0..<MessageQueue.limitPerClient).map { _ in text(queue.pop()) }
        expect(drained, is: (0..<MessageQueue.limitPerClient).map { "a\($0)" })
        expect(text(queue.pop()), is: nil)
        expect(queue.poppedCount, is: MessageQueue.limitPerClient)
    }

    @Test func aConsumerWaitingOnAnEmptyQueueWakesWhenItCloses() {
        let queue = MessageQueue()
        let result = Locked<String??>(nil)
        let popped = inBackground {
            let message = queue.pop()
            result.withLock { $0 = .some(message.map { String(decoding: $0.text, as: UTF8.self) }) }
        }
        queue.close()
        expect(popped.wait(timeout: .now() + 10), is: .success)
        expect(result.withLock { $0 }, is: .some(nil))
    }

    @Test func manyProducersOneConsumerNothingLostOrDuplicated() throws {
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
            let message = try #require(queue.pop())
            let parts = String(decoding: message.text, as: UTF8.self).split(separator: ":")
            seen[Int(parts[0])!, default: []].append(Int(parts[1])!)
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
