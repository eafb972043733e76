import Net

/// Opens a TCP connection to `server` (see `Connection.connect` in Net).
func connect(to server: Endpoint, receiveBuffer: Int32? = nil) throws(SocketError) -> Connection {
    try Connection.connect(
        to: SocketAddress(host: server.host, port: server.port), receiveBuffer: receiveBuffer)
}
