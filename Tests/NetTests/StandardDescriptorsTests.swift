import Foundation
import Net
import Testing

/// Whether `reopenClosedStandardDescriptors` opens `/dev/null` where 0, 1 or 2 is closed is for
/// the contract tests to see, in a server started without them; closing the test process's own
/// would hand their numbers to whatever another test opens meanwhile.
@Suite struct StandardDescriptorsTests {
    /// What each of 0, 1 and 2 is, as `/proc/self/fd` shows it: `/dev/pts/0`, `pipe:[123]`...
    private func standardDescriptors() -> [String] {
        (0...2).map {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)"))
                ?? "closed"
        }
    }

    @Test func openDescriptorsAreLeftAsTheyAre() {
        let before = standardDescriptors()
        reopenClosedStandardDescriptors()
        let after = standardDescriptors()
        for (number, (was, now)) in zip(before, after).enumerated() where was != "closed" {
            #expect(was == now, "descriptor \(number) was \(was), is now \(now)")
        }
    }
}
