// A libFuzzer target for `LineFramer`, built together with Sources/Net/LineFramer.swift by
// Fuzz/run.sh. Each input is cut into chunks, fed to the framer as `recv` would, and the lines
// that come out are compared with a plain reference reading of the whole input at once.
// Any difference, or any crash, is a finding.

/// What the framer should produce for `input`, read in one piece: the complete lines, and
/// whether a line longer than the limit stops it.
func referenceLines(_ input: [UInt8]) -> (lines: [[UInt8]], tooLong: Bool, pending: Int) {
    var lines: [[UInt8]] = []
    var current: [UInt8] = []
    for byte in input {
        if byte == UInt8(ascii: "\n") {
            if current.last == UInt8(ascii: "\r") { current.removeLast() }
            if current.count > LineFramer.maxLineLength { return (lines, true, 0) }
            lines.append(current)
            current = []
        } else {
            current.append(byte)
        }
    }
    // An unfinished line may wait for its `\n`, one byte over the limit at most (a `\r`).
    if current.count > LineFramer.maxLineLength + 1 { return (lines, true, 0) }
    return (lines, false, current.count)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLineFramer(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let control = data[0]
    var input = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    // Half the inputs are stretched past the line limit, to reach the long-line paths.
    if control & 0x40 != 0 && !input.isEmpty {
        while input.count < 3 * LineFramer.maxLineLength { input += input }
    }
    let chunkSize = Int(control & 0x3F) + 1

    var framer = LineFramer()
    var lines: [[UInt8]] = []
    var tooLong = false
    var offset = 0
    feeding: while offset < input.count {
        let end = min(offset + chunkSize, input.count)
        framer.append(input[offset..<end])
        offset = end
        do {
            while let line = try framer.nextLine() { lines.append(line) }
        } catch {
            tooLong = true
            break feeding
        }
    }
    let expected = referenceLines(input)
    precondition(lines == expected.lines, "lines differ from the reference")
    precondition(tooLong == expected.tooLong, "line-too-long verdict differs from the reference")
    if !tooLong {
        precondition(framer.pendingByteCount == expected.pending, "pending bytes differ")
        // Memory stays bounded: never more than a line, its `\r`, and one chunk.
        precondition(framer.pendingByteCount <= LineFramer.maxLineLength + 1 + chunkSize)
    }
    return 0
}
