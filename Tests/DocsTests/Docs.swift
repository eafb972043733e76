import Foundation

/// The workbook's Markdown files, read from the package the tests were built from.
enum Docs {
    /// The package root: this file is `Tests/DocsTests/Docs.swift`.
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `README.md` and every Markdown file in `docs/`, as paths relative to the root.
    static var files: [String] {
        let chapters =
            (try? FileManager.default.contentsOfDirectory(
                atPath: root.appendingPathComponent("docs").path)) ?? []
        return ["README.md"] + chapters.filter { $0.hasSuffix(".md") }.sorted().map { "docs/\($0)" }
    }

    static func text(of path: String) -> String {
        (try? String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)) ?? ""
    }

    /// A fenced code block: its info string (`swift`, `session Stage1SingleThread`), its lines,
    /// and where it starts, plus the nearest non-blank line above its opening fence.
    struct Block: Sendable {
        let file: String
        let line: Int
        let info: String
        let lines: [String]
        let lineAbove: String
    }

    static func blocks(in file: String) -> [Block] {
        let lines = text(of: file).components(separatedBy: "\n")
        var blocks: [Block] = []
        var index = 0
        while index < lines.count {
            let opening = lines[index].trimmingCharacters(in: .whitespaces)
            guard opening.hasPrefix("```") else {
                index += 1
                continue
            }
            let fence = String(opening.prefix { $0 == "`" })
            let info = String(opening.dropFirst(fence.count)).trimmingCharacters(in: .whitespaces)
            let above =
                lines[..<index].last { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? ""
            var body: [String] = []
            var end = index + 1
            while end < lines.count && lines[end].trimmingCharacters(in: .whitespaces) != fence {
                body.append(lines[end])
                end += 1
            }
            blocks.append(
                Block(file: file, line: index + 1, info: info, lines: body, lineAbove: above))
            index = end + 1
        }
        return blocks
    }

    static var allBlocks: [Block] { files.flatMap { blocks(in: $0) } }
}

extension Docs.Block: CustomStringConvertible {
    var description: String { "\(file):\(line)" }
}
