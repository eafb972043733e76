import Foundation
import Testing

/// Every Swift block in the docs is an excerpt of the sources, marked
/// `<!-- excerpt: Sources/…/file.swift#name -->`, and must equal the lines between
/// `// excerpt: name` and `// end excerpt` in that file.
@Suite struct ExcerptTests {
    static let swiftBlocks = Docs.allBlocks.filter { $0.info == "swift" }

    /// The lines between the markers `// excerpt: name` and `// end excerpt` in `file`.
    static func excerpt(_ name: String, in file: String) -> [String]? {
        let lines = Docs.text(of: file).components(separatedBy: "\n")
        guard
            let start = lines.firstIndex(where: {
                $0.trimmingCharacters(in: .whitespaces) == "// excerpt: \(name)"
            }),
            let end = lines[start...].firstIndex(where: {
                $0.trimmingCharacters(in: .whitespaces) == "// end excerpt"
            })
        else { return nil }
        return Array(lines[(start + 1)..<end])
    }

    @Test func theDocsShowCode() {
        #expect(Self.swiftBlocks.count >= 5)
    }

    @Test(arguments: swiftBlocks)
    func swiftBlockMatchesItsSource(block: Docs.Block) throws {
        let marker = block.lineAbove.trimmingCharacters(in: .whitespaces)
        let prefix = "<!-- excerpt: "
        try #require(
            marker.hasPrefix(prefix) && marker.hasSuffix(" -->"),
            "\(block): a Swift block must follow <!-- excerpt: PATH#NAME -->")
        let reference = marker.dropFirst(prefix.count).dropLast(" -->".count)
        let parts = reference.split(separator: "#", maxSplits: 1).map(String.init)
        try #require(
            parts.count == 2, "\(block): excerpt reference '\(reference)' is not PATH#NAME")
        let source = try #require(
            Self.excerpt(parts[1], in: parts[0]),
            "\(block): no excerpt '\(parts[1])' in \(parts[0])")
        #expect(block.lines == source, "\(block) differs from \(reference)")
    }
}
