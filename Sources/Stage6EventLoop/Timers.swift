// Stage6EventLoop: part of the stage explained in docs/07-event-loop.md; main.swift is where it starts.
import Glibc
import Net

// excerpt: timers
/// The clients' deadlines (idle, send, linger), soonest first: the loop sleeps until the first.
///
/// A thread per client could give each `recv` its own timeout. One thread waiting for all of
/// them needs to know only the soonest, and a binary heap keeps it at the top. Entries are
/// never searched for or moved: when a client's deadline moves later (a new line arrived), its
/// old entry stays, fires early, and the loop finds the client not due yet and arms it again.
struct TimerHeap {
    struct Entry {
        let deadline: ContinuousClock.Instant
        let client: Int
    }

    private var items: [Entry] = []

    var first: Entry? { items.first }

    mutating func insert(_ entry: Entry) {
        items.append(entry)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].deadline < items[parent].deadline else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func removeFirst() {
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var parent = 0
        while true {
            let (left, right) = (2 * parent + 1, 2 * parent + 2)
            var next = parent
            if left < items.count && items[left].deadline < items[next].deadline { next = left }
            if right < items.count && items[right].deadline < items[next].deadline { next = right }
            if next == parent { return }
            items.swapAt(parent, next)
            parent = next
        }
    }
}
// end excerpt

// excerpt: log-buffer
/// The log, written by the loop thread alone, one `write` per turn of the loop.
///
/// With a hundred clients busy, one turn may handle a hundred messages. A `write` for each of
/// their log lines would cost more than everything else the loop does for them. So lines are
/// collected while the turn runs, and written together before the loop sleeps again: no line
/// waits longer than the turn it belongs to.
struct LogBuffer {
    private var bytes: [UInt8] = []

    mutating func add(_ line: String) {
        bytes.append(contentsOf: line.utf8)
        bytes.append(UInt8(ascii: "\n"))
    }

    /// Adds a handled message's line, `[client-N] [PRIORITY] TEXT`, without building a String
    /// for it when the text is plain printable ASCII, as nearly every line is.
    mutating func add(_ message: Message) {
        if message.text.contains(where: { $0 < 0x20 || $0 >= 0x7F }) {
            return add(
                "[client-\(message.client)] [\(message.priority)] \(printable(message.text))")
        }
        bytes.append(contentsOf: Self.clientTag)
        appendDecimal(message.client)
        bytes.append(contentsOf: Self.priorityTags[message.priority.rawValue])
        bytes.append(contentsOf: message.text)
        bytes.append(UInt8(ascii: "\n"))
    }

    private static let clientTag = Array("[client-".utf8)
    /// `] [low] `, `] [normal] ` and `] [urgent] `, in the order of `Priority`'s raw values.
    private static let priorityTags = [Priority.low, .normal, .urgent].map {
        Array("] [\($0)] ".utf8)
    }

    private mutating func appendDecimal(_ number: Int) {
        var divisor = 1
        while divisor <= number / 10 { divisor *= 10 }
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(number / divisor % 10))
            divisor /= 10
        } while divisor > 0
    }

    mutating func flush() {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes {
                write(STDOUT_FILENO, $0.baseAddress! + written, $0.count - written)
            }
            if result > 0 {
                written += result
            } else if result == -1 && errno == EINTR {
                continue
            } else {
                break  // Nowhere left to write to (EPIPE): the server carries on without its log.
            }
        }
        bytes.removeAll(keepingCapacity: bytes.count < 1 << 20)
    }
}
// end excerpt
