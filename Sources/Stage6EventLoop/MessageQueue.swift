// Stage6EventLoop: part of the stage explained in docs/07-event-loop.md; main.swift is where it starts.
import Foundation
import Net

// excerpt: priority
/// How soon a message should be handled. A line picks its priority with a prefix.
enum Priority: Int, Comparable, CustomStringConvertible, Sendable {
    case low, normal, urgent

    static func < (left: Priority, right: Priority) -> Bool { left.rawValue < right.rawValue }

    var description: String {
        switch self {
        case .low: "low"
        case .normal: "normal"
        case .urgent: "urgent"
        }
    }

    private static let urgentPrefix = Array("/urgent ".utf8)
    private static let lowPrefix = Array("/low ".utf8)

    /// `/urgent TEXT` and `/low TEXT` choose a priority; any other line is normal. The prefix is
    /// not part of the message. (The prefixes are made once: this runs for every line, on the
    /// thread that serves everyone.)
    static func parse(_ line: [UInt8]) -> (Priority, text: [UInt8]) {
        if line.starts(with: urgentPrefix) { return (.urgent, Array(line[urgentPrefix.count...])) }
        if line.starts(with: lowPrefix) { return (.low, Array(line[lowPrefix.count...])) }
        return (.normal, line)
    }
}
// end excerpt

// excerpt: message
/// One line from one client, waiting for the consumer.
///
/// It names its client by number, not by connection: only the loop thread touches sockets. The
/// consumer's result goes back to the loop, which finds the client, if it is still there.
struct Message: Sendable {
    let client: Int
    /// Order of arrival across all clients: among equal priorities the lower one goes first.
    /// A counter, not a clock: two messages can carry the same time, never the same number.
    let sequence: UInt64
    let priority: Priority
    let text: [UInt8]

    /// True when `self` should be handled before `other`: more urgent, or as urgent and older.
    func goesBefore(_ other: Message) -> Bool {
        priority != other.priority ? priority > other.priority : sequence < other.sequence
    }
}

/// What the consumer made of a message: the ACK for the loop to send, the line for it to log.
struct Handled: Sendable {
    let client: Int
    let reply: [UInt8]
    let logLine: String
}

extension Message {
    private static let ackPrefix = Array("Received: ".utf8)

    /// The work on a message, apart from the work delay: its ACK and its log line.
    func handled() -> Handled {
        Handled(
            client: client, reply: Self.ackPrefix + text + [UInt8(ascii: "\n")],
            logLine: "[client-\(client)] [\(priority)] \(printable(text))")
    }
}
// end excerpt

// excerpt: queue
/// The queue between the loop and the consumer, in both directions.
///
/// Messages go one way, into a priority heap the consumer pops from, as in Stage 5. Results
/// come back the other way, into a list the loop takes whole. The consumer must not send the
/// ACK itself: the loop owns every socket. So it leaves the result here and wakes the loop
/// through `wakeup`, at most once until the loop has taken what is waiting.
///
/// Every stored property below is touched only inside `condition.withLock`; that rule, which
/// the compiler cannot check, is what `@unchecked` states.
final class MessageQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private let wakeup: Wakeup
    private var heap = MessageHeap()
    private var nextSequence: UInt64 = 0
    private var closed = false
    private var results: [Handled] = []
    /// True from the consumer's wake-up call until the loop takes the results: one `write` to
    /// the eventfd per batch, not one per message.
    private var loopWoken = false
    private var handledCount = 0
    private var consumerEnded = false

    init(wakeup: Wakeup) {
        self.wakeup = wakeup
    }

    /// Loop: queues a message and wakes the consumer if it is waiting. Returns false, and
    /// queues nothing, once the queue is closed.
    @discardableResult
    func push(client: Int, priority: Priority, text: [UInt8]) -> Bool {
        condition.withLock {
            if closed { return false }
            heap.insert(
                Message(client: client, sequence: nextSequence, priority: priority, text: text))
            nextSequence += 1
            condition.signal()
            return true
        }
    }

    /// Consumer: takes the message that goes first, waiting as long as the queue is empty.
    /// Returns `nil` once the queue is closed and every message in it has been taken.
    func pop() -> Message? {
        condition.withLock {
            while heap.isEmpty && !closed { condition.wait() }
            return heap.isEmpty ? nil : heap.removeFirst()
        }
    }

    /// Consumer: hands a result back and wakes the loop, unless it is already woken.
    func finish(_ handled: Handled) {
        let wake = condition.withLock {
            results.append(handled)
            handledCount += 1
            defer { loopWoken = true }
            return !loopWoken
        }
        if wake { wakeup.signal() }
    }

    /// Consumer: the queue is closed and empty, and the consumer is returning.
    func consumerDidEnd() {
        condition.withLock { consumerEnded = true }
        wakeup.signal()
    }

    /// Loop: every result handed back since the last call, in the order they were handled.
    func takeResults() -> [Handled] {
        condition.withLock {
            loopWoken = false
            defer { results = [] }
            return results
        }
    }

    /// Loop: takes no more messages. The consumer handles what is queued, then ends.
    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }

    /// How many messages the consumer has handled.
    var processedCount: Int { condition.withLock { handledCount } }

    /// True once the consumer has handled the last message of a closed queue.
    var isFinished: Bool { condition.withLock { consumerEnded } }
}
// end excerpt

// excerpt: heap
/// A binary heap: the message that goes first is always at index 0, and inserting or removing
/// costs a number of steps that grows with the logarithm of the count, not the count itself.
struct MessageHeap {
    private var items: [Message] = []

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }

    mutating func insert(_ message: Message) {
        items.append(message)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].goesBefore(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func removeFirst() -> Message {
        items.swapAt(0, items.count - 1)
        let first = items.removeLast()
        var parent = 0
        while true {
            let (left, right) = (2 * parent + 1, 2 * parent + 2)
            var next = parent
            if left < items.count && items[left].goesBefore(items[next]) { next = left }
            if right < items.count && items[right].goesBefore(items[next]) { next = right }
            if next == parent { return first }
            items.swapAt(parent, next)
            parent = next
        }
    }
}
// end excerpt
