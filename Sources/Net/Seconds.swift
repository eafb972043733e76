/// Seconds as a person would write them: `2` for 2.0, `0.05` for 0.05. For messages such as
/// `ERR idle timeout (5s)` and the client's table, where `5.0` would look like a measurement.
public func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() && abs(seconds) < 1e15 ? String(Int(seconds)) : String(seconds)
}

extension Duration {
    /// The duration as a `Double` number of seconds.
    public var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}
