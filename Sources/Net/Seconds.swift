/// Seconds as a person would write them: `2` for 2.0, `0.05` for 0.05. For messages such as
/// `ERR idle timeout (5s)` and the client's table, where `5.0` would look like a measurement.
public func formatSeconds(_ seconds: Double) -> String {
    if seconds == seconds.rounded() && abs(seconds) < 1e15 { return String(Int(seconds)) }
    let text = String(seconds)
    // Swift writes a tiny value with an exponent and one digit before the point (`1.5e-05`); a
    // person, and `--idle-timeout`, write 0.000015: the same digits behind the exponent's zeros.
    guard seconds > 0, let e = text.firstIndex(of: "e"),
        let exponent = Int(text[text.index(after: e)...]), exponent < 0
    else { return text }
    return "0." + String(repeating: "0", count: -exponent - 1) + text[..<e].filter { $0 != "." }
}

extension Duration {
    /// The duration as a `Double` number of seconds.
    public var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}
