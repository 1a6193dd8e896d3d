/// Text helpers shared by the charts.
enum PlotText {
    /// `text` cut to `limit` characters, ending in ".." when cut.
    static func truncated(_ text: String, to limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(max(1, limit - 2))) + ".."
    }
}
