import Net
import Testing

@Suite struct LineFramerTests {
    /// Feeds `chunks` one after another and collects every line, as a reader would.
    func lines(_ chunks: [String]) throws -> [String] {
        var framer = LineFramer()
        var result: [String] = []
        for chunk in chunks {
            framer.append(Array(chunk.utf8))
            while let line = try framer.nextLine() {
                result.append(String(decoding: line, as: UTF8.self))
            }
        }
        return result
    }

    @Test func oneReadWithSeveralLines() throws {
        #expect(try lines(["a\nb\nc\n"]) == ["a", "b", "c"])
    }

    @Test func aLineSplitAcrossReads() throws {
        #expect(try lines(["he", "ll", "o\nwor", "ld\n"]) == ["hello", "world"])
    }

    @Test func carriageReturnBeforeNewlineIsDropped() throws {
        #expect(try lines(["a\r\n", "b\r", "\n"]) == ["a", "b"])
    }

    @Test func aCarriageReturnElsewhereIsKept() throws {
        #expect(try lines(["a\rb\n"]) == ["a\rb"])
    }

    @Test func emptyLinesAreReturnedAsEmpty() throws {
        // The framer reports them; `LineReader` is what skips them.
        #expect(try lines(["\n\r\nx\n"]) == ["", "", "x"])
    }

    @Test func anUnfinishedLineWaits() throws {
        var framer = LineFramer()
        framer.append(Array("no newline yet".utf8))
        #expect(try framer.nextLine() == nil)
        #expect(framer.pendingByteCount == 14)
    }

    @Test func theLongestLineIsAccepted() throws {
        let longest = String(repeating: "x", count: LineFramer.maxLineLength)
        #expect(try lines([longest + "\r\n"]) == [longest])
        #expect(try lines([longest, "\r", "\n"]) == [longest])
    }

    @Test func oneByteMoreIsTooLongWithOrWithoutItsNewline() {
        let tooLong = String(repeating: "x", count: LineFramer.maxLineLength + 1)
        #expect(throws: LineFramer.LineTooLong.self) { try lines([tooLong + "\n"]) }
        #expect(throws: LineFramer.LineTooLong.self) { try lines([tooLong + "x"]) }
    }

    @Test func memoryStaysBoundedWithoutANewline() {
        var framer = LineFramer()
        var thrown = false
        for _ in 0..<1000 {
            framer.append([UInt8](repeating: 7, count: 1000))
            do {
                _ = try framer.nextLine()
            } catch {
                thrown = true
                break
            }
        }
        #expect(thrown)
        #expect(framer.pendingByteCount <= LineFramer.maxLineLength + 1 + 1000)
    }

    @Test func bytesAreKeptExactly() throws {
        var framer = LineFramer()
        let payload: [UInt8] = [0, 0xFF, 0xC3, 0x28, 0x80]
        framer.append(payload + [10])
        #expect(try framer.nextLine() == payload)
    }

    @Test func oneByteAtATime() throws {
        #expect(try lines("ab\ncd\n".map { String($0) }) == ["ab", "cd"])
    }
}
