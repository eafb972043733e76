import Glibc

/// An IPv4 or IPv6 address with a port, as the kernel reported it.
///
/// It keeps only what a learner needs to read (`127.0.0.1:52344`, `[::1]:52344`), so it can be
/// copied freely between threads.
public struct SocketAddress: CustomStringConvertible, Equatable, Sendable {
    public let host: String
    public let port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Reads an address the kernel filled in (from `accept`, `getsockname` or `getpeername`).
    init(_ storage: sockaddr_storage) {
        var storage = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch Int32(storage.ss_family) {
        case AF_INET6:
            (host, port) = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var raw = address.pointee.sin6_addr
                    inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
                    return (decodeCString(text), UInt16(bigEndian: address.pointee.sin6_port))
                }
            }
        default:
            (host, port) = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var raw = address.pointee.sin_addr
                    inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
                    return (decodeCString(text), UInt16(bigEndian: address.pointee.sin_port))
                }
            }
        }
    }

    /// The address as the kernel wants it for `bind` or `connect`, or `nil` when `host` is not a
    /// numeric IPv4 or IPv6 address.
    func storage() -> (storage: sockaddr_storage, length: socklen_t)? {
        var storage = sockaddr_storage()
        var v4 = sockaddr_in()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: v4, as: sockaddr_in.self) }
            return (storage, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: v6, as: sockaddr_in6.self) }
            return (storage, socklen_t(MemoryLayout<sockaddr_in6>.size))
        }
        return nil
    }

    /// True when `host` is a numeric IPv4 or IPv6 address, the only kind a server binds here.
    public static func isNumericHost(_ host: String) -> Bool {
        SocketAddress(host: host, port: 0).storage() != nil
    }
}

/// A C string the kernel wrote into `buffer`, up to its terminating zero.
private func decodeCString(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

/// Calls `body` with `storage` viewed as the generic `sockaddr` the socket calls take.
func withSockaddr<Result>(
    _ storage: inout sockaddr_storage, _ body: (UnsafeMutablePointer<sockaddr>) -> Result
) -> Result {
    withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body)
    }
}
