import Net
import Testing

@Suite struct LogTests {
    @Test func textIsLoggedAsItCame() {
        #expect(printable(Array("héllo, wörld\twith a tab".utf8)) == "héllo, wörld\twith a tab")
    }

    @Test func invalidUTF8BecomesReplacementCharacters() {
        #expect(printable([0x61, 0xFF, 0x62, 0xC3, 0x28]) == "a\u{FFFD}b\u{FFFD}(")
    }

    @Test func controlCharactersAreEscapedSoTheyCannotDriveTheTerminal() {
        let escapeSequence: [UInt8] = [0x1B] + Array("[31mred".utf8)
        #expect(printable(escapeSequence) == "\\x1B[31mred")
        #expect(printable([0x00, 0x0D, 0x7F]) == "\\x00\\x0D\\x7F")
    }

    /// C1 controls reach a terminal as UTF-8 too: U+009B alone starts an escape sequence, like
    /// ESC [. And U+202E makes the rest of a line read backwards.
    @Test func c1ControlsAndBidiOverridesAreEscapedToo() {
        #expect(printable(Array("\u{9B}31mred".utf8)) == "\\u{9B}31mred")
        #expect(
            printable(Array("a\u{85}b\u{9D}0;title\u{9C}".utf8)) == "a\\u{85}b\\u{9D}0;title\\u{9C}"
        )
        #expect(printable(Array("txt.\u{202E}exe".utf8)) == "txt.\\u{202E}exe")
    }
}
