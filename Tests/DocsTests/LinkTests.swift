import Foundation
import Testing

/// Every relative link in the docs leads to a file that exists, and to a heading that exists.
@Suite struct LinkTests {
    struct Link: Sendable, CustomStringConvertible {
        let file: String
        let target: String
        var description: String { "\(file) → \(target)" }
    }

    /// Links outside code blocks: `[text](target)`.
    static let links: [Link] = Docs.files.flatMap { file in
        var inCode = false
        var found: [Link] = []
        for line in Docs.text(of: file).components(separatedBy: "\n") {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") { inCode.toggle() }
            if inCode { continue }
            for match in line.matches(of: /\]\(([^)\s]+)\)/) {
                let target = String(match.output.1)
                if target.contains("://") || target.hasPrefix("mailto:") { continue }
                found.append(Link(file: file, target: target))
            }
        }
        return found
    }

    /// The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to dashes.
    static func anchor(_ heading: String) -> String {
        let text = heading.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces).lowercased()
        return String(
            text.compactMap { character -> Character? in
                if character == " " { return "-" }
                if character.isLetter || character.isNumber || character == "-" || character == "_"
                {
                    return character
                }
                return nil
            })
    }

    @Test func theDocsLinkToEachOther() {
        #expect(Self.links.count >= 5)
    }

    @Test(arguments: links)
    func linkLeadsSomewhere(link: Link) throws {
        let parts = link.target.split(
            separator: "#", maxSplits: 1, omittingEmptySubsequences: false
        ).map(String.init)
        let directory = (link.file as NSString).deletingLastPathComponent
        let path =
            parts[0].isEmpty
            ? link.file
            : ((directory as NSString).appendingPathComponent(parts[0]) as NSString)
                .standardizingPath
        let url = Docs.root.appendingPathComponent(path)
        try #require(FileManager.default.fileExists(atPath: url.path), "\(link): no file \(path)")
        guard parts.count == 2, path.hasSuffix(".md") else { return }
        var inCode = false
        var anchors: [String] = []
        for line in Docs.text(of: path).components(separatedBy: "\n") {
            if line.hasPrefix("```") { inCode.toggle() }
            if !inCode && line.hasPrefix("#") { anchors.append(Self.anchor(line)) }
        }
        #expect(anchors.contains(parts[1]), "\(link): no heading #\(parts[1]) in \(path)")
    }
}
