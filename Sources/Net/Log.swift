import Foundation
import Glibc

/// One lock for both streams, so lines written by different threads never mix.
private let outputLock = NSLock()

/// Writes one line to standard output, at once.
///
/// `print` buffers its output when stdout is a pipe, so a test (or `| tee`) would see nothing
/// until the buffer fills. Writing straight to file descriptor 1 leaves nothing waiting.
public func log(_ line: String) {
    write(line, to: STDOUT_FILENO)
}

/// Writes one line to standard error, at once.
public func logError(_ line: String) {
    write(line, to: STDERR_FILENO)
}

/// Prints `error: <what failed>` on standard error and exits with status 1.
public func exitWithError(_ error: any Error) -> Never {
    logError("error: \(error)")
    exit(1)
}

/// Bytes from the network as text for the log.
///
/// Bytes that are not UTF-8 show as `�` rather than stopping the server: a log line must never
/// be the reason a client's message is lost. Control characters show as escapes, so a client
/// cannot move the cursor, recolour or retitle the terminal of the person reading the log: the
/// C0 controls and DEL (NUL, ESC, a lone `\r`…) as `\x1B`, the C1 controls (U+0080 to U+009F,
/// among them the one-character CSI, U+009B) and the bidirectional overrides that reorder what
/// the reader sees (U+202A to U+202E, U+2066 to U+2069) as `\u{9B}`.
public func printable(_ bytes: [UInt8]) -> String {
    // The common case, plain ASCII without control characters, needs no scalar-by-scalar copy.
    if !bytes.contains(where: { $0 < 0x20 && $0 != 0x09 || $0 >= 0x7F }) {
        return String(decoding: bytes, as: UTF8.self)
    }
    var text = ""
    for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
        let value = scalar.value
        if (value < 0x20 && scalar != "\t") || value == 0x7F {
            let hex = String(value, radix: 16, uppercase: true)
            text += "\\x" + (hex.count == 1 ? "0" + hex : hex)
        } else if (0x80...0x9F).contains(value) || (0x202A...0x202E).contains(value)
            || (0x2066...0x2069).contains(value)
        {
            text += "\\u{" + String(value, radix: 16, uppercase: true) + "}"
        } else {
            text.unicodeScalars.append(scalar)
        }
    }
    return text
}

private func write(_ line: String, to descriptor: Int32) {
    let bytes = Array(line.utf8) + [UInt8(ascii: "\n")]
    outputLock.withLock {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes {
                Glibc.write(descriptor, $0.baseAddress! + written, $0.count - written)
            }
            if result > 0 {
                written += result
            } else if result == -1 && errno == EINTR {
                continue
            } else {
                return  // Nowhere left to write to; the server carries on without its log.
            }
        }
    }
}
