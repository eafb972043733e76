import Foundation

/// The TCP port process `pid` listens on over IPv4, found in `/proc` instead of its log: the
/// socket inodes among its descriptors (`/proc/PID/fd`, links such as `socket:[12345]`) matched
/// against the rows of `/proc/PID/net/tcp` in state `0A`, LISTEN. Nil while it listens on none.
/// For a server whose standard output the test cannot read.
public func listeningPort(ofProcess pid: Int32) -> UInt16? {
    let directory = "/proc/\(pid)/fd"
    guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: directory),
        let file = FileHandle(forReadingAtPath: "/proc/\(pid)/net/tcp")
    else { return nil }
    defer { try? file.close() }
    let sockets = Set(
        descriptors.compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)")
        })
    // Read to the end: the table is often longer than the one page a plain read returns.
    let table = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
    // `sl local_address rem_address st tx_queue:rx_queue tr:when retrnsmt uid timeout inode`,
    // addresses as HEX_IP:HEX_PORT.
    for row in table.split(separator: "\n").dropFirst() {
        let fields = row.split(separator: " ")
        guard fields.count > 9, fields[3] == "0A", sockets.contains("socket:[\(fields[9])]"),
            let port = fields[1].split(separator: ":").last.flatMap({ UInt16($0, radix: 16) })
        else { continue }
        return port
    }
    return nil
}
