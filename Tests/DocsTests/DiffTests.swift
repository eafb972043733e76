import Foundation
import Testing

/// Every ```diff block in the docs follows `<!-- diff: ARGS -->` and shows what `diff ARGS`
/// prints for the sources as they are now: the same two header lines (without the file dates)
/// and hunks each copied whole. A chapter may leave hunks out, never change one.
@Suite struct DiffTests {
    static let diffBlocks = Docs.allBlocks.filter { $0.info == "diff" }

    /// `diff ARGS` run at the package root, dates dropped from the `---` and `+++` lines, cut
    /// into its header and its hunks.
    static func realDiff(_ arguments: [String]) throws -> (header: [String], hunks: [[String]]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["diff"] + arguments
        process.currentDirectoryURL = Docs.root
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return split(String(decoding: data, as: UTF8.self).components(separatedBy: "\n"))
    }

    static func split(_ lines: [String]) -> (header: [String], hunks: [[String]]) {
        var header: [String] = []
        var hunks: [[String]] = []
        for line in lines where !(line.isEmpty && hunks.isEmpty) {
            if line.hasPrefix("--- ") || line.hasPrefix("+++ ") {
                header.append(String(line.prefix { $0 != "\t" }))
            } else if line.hasPrefix("@@") {
                hunks.append([line])
            } else if !hunks.isEmpty {
                hunks[hunks.count - 1].append(line)
            }
        }
        if let last = hunks.last?.last, last.isEmpty { hunks[hunks.count - 1].removeLast() }
        return (header, hunks)
    }

    @Test(arguments: diffBlocks)
    func diffBlockShowsTheRealDiff(block: Docs.Block) throws {
        let marker = block.lineAbove.trimmingCharacters(in: .whitespaces)
        try #require(
            marker.hasPrefix("<!-- diff: ") && marker.hasSuffix(" -->"),
            "\(block): a diff block must follow <!-- diff: ARGS -->")
        let arguments = marker.dropFirst("<!-- diff: ".count).dropLast(" -->".count)
            .split(separator: " ").map(String.init)
        let real = try Self.realDiff(arguments)
        let shown = Self.split(block.lines)
        #expect(shown.header == real.header, "\(block): header")
        #expect(!shown.hunks.isEmpty, "\(block): no hunks")
        for hunk in shown.hunks {
            #expect(real.hunks.contains(hunk), "\(block): hunk \(hunk[0]) is not in today's diff")
        }
    }
}
