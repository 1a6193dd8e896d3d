import Foundation

/// A parsed JSON document with numbers kept apart from booleans (JSONSerialization on Linux mixes them), for
/// readers that check every field of a hostile file themselves.
enum ParsedJSON: Decodable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([ParsedJSON])
    case object([String: ParsedJSON])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([ParsedJSON].self) { self = .array(a) }
        else if let o = try? c.decode([String: ParsedJSON].self) { self = .object(o) }
        else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
                "a value at \(decoder.codingPath.map(\.stringValue).joined(separator: ".")) cannot be read (a number out of range?)"))
        }
    }

    /// Parses `data`; errors name `path`.
    static func parse(_ data: Data, path: String) throws -> ParsedJSON {
        do { return try JSONDecoder().decode(ParsedJSON.self, from: data) } catch let error as DecodingError {
            switch error {
            case .dataCorrupted(let context):
                throw DatasetError(path: path, reason: "not valid JSON: \(context.underlyingError.map { "\($0)" } ?? context.debugDescription)")
            default: throw DatasetError(path: path, reason: "not valid JSON: \(error)")
            }
        } catch {
            throw DatasetError(path: path, reason: "not valid JSON: \(error)")
        }
    }

    var object: [String: ParsedJSON]? { if case .object(let o) = self { return o }; return nil }
    var array: [ParsedJSON]? { if case .array(let a) = self { return a }; return nil }
    var string: String? { if case .string(let s) = self { return s }; return nil }

    /// A finite number (integers included).
    var double: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .number(let d): return d.isFinite ? d : nil
        default: return nil
        }
    }

    /// A whole number: an integer, or a float with no fraction (Python's dict keys treat 3.0 as 3).
    var int64: Int64? {
        switch self {
        case .integer(let i): return i
        case .number(let d) where d.isFinite && d == d.rounded() && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }

    /// A short rendering for error messages.
    var brief: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .integer(let i): return "\(i)"
        case .number(let d): return "\(d)"
        case .string(let s): return "\"\(s.prefix(40))\""
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}
