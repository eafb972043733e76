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

/// Bytes from the network as text for the log. Bytes that are not UTF-8 show as `�` rather than
/// stopping the server: a log line must never be the reason a client's message is lost.
public func printable(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self)
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
