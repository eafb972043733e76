import Foundation
import Testing

/// Each stage is a copy of the stage before it plus one lesson. Where a stage has a file of the
/// same name as the stage before it, every `// excerpt: NAME` region the two share is either part
/// of the lesson, listed in `lessons`, or the same to the letter (the stage's own program name
/// aside). So a fix that reaches one copy and not the next fails here, and a chapter that says
/// "unchanged from Stage N" is checked. Every listed change must really be one, so the list
/// cannot go stale either. Outside the regions, a shared file other than `main.swift` must be
/// the same to the letter too.
@Suite struct LineageTests {
    static let stages = [
        "Stage1SingleThread", "Stage2ThreadPerClient", "Stage3PriorityQueue", "Stage4NonBlocking",
        "Stage5Shutdown", "Stage6EventLoop",
    ]

    /// The regions each stage changes on purpose, as `FILE#REGION`.
    static let lessons: [String: Set<String>] = [
        "Stage2ThreadPerClient": ["main.swift#accept-loop", "main.swift#serve"],
        "Stage3PriorityQueue": [
            "main.swift#options", "main.swift#accept-loop", "main.swift#serve",
        ],
        "Stage4NonBlocking": [
            "main.swift#options", "main.swift#consumer", "main.swift#listen",
            "main.swift#accept-loop", "main.swift#serve", "MessageQueue.swift#queue",
        ],
        "Stage5Shutdown": [
            "main.swift#options", "main.swift#consumer", "main.swift#open", "main.swift#listen",
            "main.swift#accept-loop", "main.swift#poll", "main.swift#serve",
            "MessageQueue.swift#queue", "ClientSlots.swift#slots",
        ],
        "Stage6EventLoop": [
            "main.swift#consumer", "MessageQueue.swift#priority", "MessageQueue.swift#message",
            "MessageQueue.swift#queue",
            "ShutdownSignal.swift#self-pipe",
        ],
    ]

    struct Step: CustomStringConvertible, Sendable {
        let earlier: String
        let later: String
        var description: String { "\(earlier) → \(later)" }
    }

    static let steps = zip(stages, stages.dropFirst()).map { Step(earlier: $0, later: $1) }

    @Test(arguments: steps)
    func sharedRegionsAreCopiesOrTheLesson(step: Step) throws {
        let root = Docs.root.appendingPathComponent("Sources")
        let laterFiles = try FileManager.default.contentsOfDirectory(
            atPath: root.appendingPathComponent(step.later).path)
        var changed: Set<String> = []
        for file in laterFiles.sorted() where file.hasSuffix(".swift") {
            let earlierURL = root.appendingPathComponent(step.earlier).appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: earlierURL.path) else { continue }
            let earlier = try Self.regions(in: earlierURL, program: step.earlier)
            let later = try Self.regions(
                in: root.appendingPathComponent(step.later).appendingPathComponent(file),
                program: step.later)
            for (name, lines) in later {
                guard let before = earlier[name] else { continue }
                if before != lines { changed.insert("\(file)#\(name)") }
            }
            // Outside its regions, a shared file other than main.swift (whose top-level state
            // each lesson extends, in plain sight in the chapters' diffs) is a copy to the letter.
            if file != "main.swift" {
                let (before, after) = try (
                    Self.outsideRegions(in: earlierURL, program: step.earlier),
                    Self.outsideRegions(
                        in: root.appendingPathComponent(step.later).appendingPathComponent(file),
                        program: step.later)
                )
                #expect(
                    before == after,
                    "\(step): \(file) differs outside its excerpt regions: \(after.difference(from: before).map { "\($0)" })"
                )
            }
        }
        let lesson = Self.lessons[step.later] ?? []
        #expect(
            changed.subtracting(lesson).isEmpty,
            "\(step): these regions differ but are not part of the lesson (a copy out of step?): \(changed.subtracting(lesson).sorted())"
        )
        #expect(
            lesson.subtracting(changed).isEmpty,
            "\(step): listed as the lesson but identical to the earlier stage: \(lesson.subtracting(changed).sorted())"
        )
    }

    /// The lines of a file outside its `// excerpt:` regions, after its header comment (which
    /// names the stage and its chapter), with the stage's own name replaced.
    static func outsideRegions(in url: URL, program: String) throws -> [String] {
        let lines = try String(contentsOf: url, encoding: .utf8)
            .replacingOccurrences(of: program, with: "STAGE").components(separatedBy: "\n")
            .drop { $0.hasPrefix("//") }
        var outside: [String] = []
        var inRegion = false
        for line in lines {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("// excerpt: ") {
                inRegion = true
            } else if trimmed == "// end excerpt" {
                inRegion = false
            } else if !inRegion {
                outside.append(line)
            }
        }
        return outside
    }

    /// The `// excerpt: NAME` regions of a file, with the stage's own name replaced, so that
    /// `parseOrExit(program: "Stage2ThreadPerClient")` and its Stage 3 copy compare equal.
    static func regions(in url: URL, program: String) throws -> [String: [String]] {
        let text = try String(contentsOf: url, encoding: .utf8)
            .replacingOccurrences(of: program, with: "STAGE")
        var regions: [String: [String]] = [:]
        var current: String?
        for line in text.components(separatedBy: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("// excerpt: ") {
                current = String(trimmed.dropFirst("// excerpt: ".count))
                regions[current!] = []
            } else if trimmed == "// end excerpt" {
                current = nil
            } else if let name = current {
                regions[name]!.append(line)
            }
        }
        return regions
    }
}
