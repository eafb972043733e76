// Stage3PriorityQueue: part of the stage explained in docs/03-priority-queue.md; main.swift is where it starts.
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

    /// `/urgent TEXT` and `/low TEXT` choose a priority; any other line is normal. The prefix is
    /// not part of the message.
    static func parse(_ line: [UInt8]) -> (Priority, text: [UInt8]) {
        for (prefix, priority) in [("/urgent ", Priority.urgent), ("/low ", .low)] {
            let prefix = Array(prefix.utf8)
            if line.starts(with: prefix) { return (priority, Array(line.dropFirst(prefix.count))) }
        }
        return (.normal, line)
    }
}
// end excerpt

// excerpt: message
/// One line from one client, waiting for the consumer.
struct Message: Sendable {
    let client: String
    /// Where the ACK goes.
    let connection: Connection
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
// end excerpt

// excerpt: queue
/// The queue every client thread pushes into and the consumer pops from.
///
/// A lock makes each push and pop happen whole, one thread at a time. A condition variable lets
/// the consumer sleep while the queue is empty and wakes it on the next push, instead of
/// checking over and over. Every stored property below is touched only inside
/// `condition.withLock`; that rule, which the compiler cannot check, is what `@unchecked` states.
final class MessageQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var heap = MessageHeap()
    private var nextSequence: UInt64 = 0

    /// Queues a message and wakes the consumer if it is waiting.
    func push(client: String, connection: Connection, priority: Priority, text: [UInt8]) {
        condition.withLock {
            heap.insert(
                Message(
                    client: client, connection: connection, sequence: nextSequence,
                    priority: priority, text: text))
            nextSequence += 1
            condition.signal()
        }
    }

    /// Takes the message that goes first, waiting as long as the queue is empty.
    func pop() -> Message {
        condition.withLock {
            // `wait` releases the lock while asleep and takes it back on waking. The loop checks
            // again because a wake-up does not promise a message (POSIX allows spurious ones).
            while heap.isEmpty { condition.wait() }
            return heap.removeFirst()
        }
    }

    var count: Int { condition.withLock { heap.count } }
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
