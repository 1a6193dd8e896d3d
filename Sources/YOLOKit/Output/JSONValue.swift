/// A small ordered JSON value (keys keep their order, for readable output): what `yolo bench` and other reports
/// print with `--format json`; strings are escaped by `JSONOutput.string`.
public indirect enum JSONValue {
    case null, string(String), number(Double), array([JSONValue]), object([(String, JSONValue)])

    public func serialized(indent: String = "") -> String {
        switch self {
        case .null: return "null"
        case .number(let v):
            guard v.isFinite else { return "null" }
            return v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(format: "%.6g", v)
        case .string(let s): return JSONOutput.string(s)
        case .array(let items):
            // Arrays of scalars stay on one line; arrays of objects get one item per line.
            if items.allSatisfy({ if case .object = $0 { return false } else { return true } }) {
                return "[" + items.map { $0.serialized() }.joined(separator: ", ") + "]"
            }
            let inner = indent + "  "
            return "[\n" + items.map { inner + $0.serialized(indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let fields):
            // Small flat objects (layers, stats) on one line.
            let flat = fields.allSatisfy { if case .object = $0.1 { return false }; if case .array = $0.1 { return false }; return true }
            if flat && fields.count <= 12 {
                return "{" + fields.map { JSONValue.string($0.0).serialized() + ": " + $0.1.serialized() }.joined(separator: ", ") + "}"
            }
            let inner = indent + "  "
            return "{\n" + fields.map { inner + JSONValue.string($0.0).serialized() + ": " + $0.1.serialized(indent: inner) }.joined(separator: ",\n")
                + "\n" + indent + "}"
        }
    }
}
