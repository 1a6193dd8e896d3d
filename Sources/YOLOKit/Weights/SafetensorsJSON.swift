/// The JSON of a safetensors header: a strict RFC 8259 parser for reading hostile files, and the compact
/// encoding the reference implementation (Rust `serde_json::to_string`) writes.
///
/// The parser keeps object members in file order and rejects duplicate keys (JSON leaves them undefined; a
/// file naming a tensor twice must not load as either one), raw control characters in strings, lone UTF-16
/// surrogates in `\u` escapes, and nesting deeper than `maxDepth`. Numbers are kept as their literal text;
/// the caller decides what it accepts. Input must already be valid UTF-8 (`SafetensorsJSON.isValidUTF8`).
indirect enum SafetensorsJSON {
    case object([(key: String, value: SafetensorsJSON)])
    case array([SafetensorsJSON])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    /// What a value is, for error messages.
    var kind: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }

    /// A parse failure: the reason and the byte offset in the header where it was found.
    struct ParseError: Error {
        let offset: Int
        let reason: String
    }

    static let maxDepth = 64

    /// Parses one JSON value filling all of `bytes` (surrounding whitespace allowed).
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws -> SafetensorsJSON {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.fail("unexpected characters after the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func fail(_ reason: String) -> ParseError { ParseError(offset: position, reason: reason) }

        var atEnd: Bool { position >= bytes.count }

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        mutating func expect(_ literal: String, _ value: SafetensorsJSON) throws -> SafetensorsJSON {
            let expected = Array(literal.utf8)
            guard bytes.count - position >= expected.count else { throw fail("invalid literal") }
            for i in 0..<expected.count where bytes[position + i] != expected[i] { throw fail("invalid literal") }
            position += expected.count
            return value
        }

        mutating func value(depth: Int) throws -> SafetensorsJSON {
            guard !atEnd else { throw fail("unexpected end of the header") }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw fail("unexpected character '\(printable(bytes[position]))'")
            }
        }

        mutating func object(depth: Int) throws -> SafetensorsJSON {
            guard depth <= SafetensorsJSON.maxDepth else { throw fail("JSON nested deeper than \(SafetensorsJSON.maxDepth) levels") }
            position += 1  // {
            var members: [(key: String, value: SafetensorsJSON)] = []
            var seen: Set<String> = []
            skipWhitespace()
            if !atEnd, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard !atEnd, bytes[position] == UInt8(ascii: "\"") else { throw fail("expected a string key in an object") }
                let keyOffset = position
                let key = try string()
                guard seen.insert(key).inserted else {
                    throw ParseError(offset: keyOffset, reason: "duplicate key \(SafetensorsJSON.quote(key))")
                }
                skipWhitespace()
                guard !atEnd, bytes[position] == UInt8(ascii: ":") else { throw fail("expected ':' after an object key") }
                position += 1
                skipWhitespace()
                members.append((key, try value(depth: depth)))
                skipWhitespace()
                guard !atEnd else { throw fail("unexpected end of the header inside an object") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                throw fail("expected ',' or '}' in an object")
            }
        }

        mutating func array(depth: Int) throws -> SafetensorsJSON {
            guard depth <= SafetensorsJSON.maxDepth else { throw fail("JSON nested deeper than \(SafetensorsJSON.maxDepth) levels") }
            position += 1  // [
            var elements: [SafetensorsJSON] = []
            skipWhitespace()
            if !atEnd, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth))
                skipWhitespace()
                guard !atEnd else { throw fail("unexpected end of the header inside an array") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
                throw fail("expected ',' or ']' in an array")
            }
        }

        /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, returned as text.
        mutating func number() throws -> String {
            let start = position
            func digits() -> Int {
                let from = position
                while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
                return position - from
            }
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard !atEnd, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) else { throw fail("invalid number") }
            if bytes[position] == UInt8(ascii: "0") {
                position += 1
                if !atEnd, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { throw fail("invalid number (leading zero)") }
            } else {
                _ = digits()
            }
            if !atEnd, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard digits() > 0 else { throw fail("invalid number (no digits after '.')") }
            }
            if !atEnd, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
                position += 1
                if !atEnd, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
                guard digits() > 0 else { throw fail("invalid number (no exponent digits)") }
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        }

        mutating func hex4() throws -> UInt32 {
            guard bytes.count - position >= 4 else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[position]
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: throw fail("invalid \\u escape")
                }
                v = v << 4 | UInt32(d)
                position += 1
            }
            return v
        }

        mutating func string() throws -> String {
            position += 1  // opening quote
            var out: [UInt8] = []
            while true {
                guard !atEnd else { throw fail("unterminated string") }
                let c = bytes[position]
                if c == UInt8(ascii: "\"") { position += 1; break }
                if c < 0x20 { throw fail("raw control character 0x\(String(c, radix: 16)) in a string") }
                if c != UInt8(ascii: "\\") { out.append(c); position += 1; continue }
                position += 1
                guard !atEnd else { throw fail("unterminated string") }
                let e = bytes[position]
                position += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                            throw fail("lone UTF-16 surrogate in a \\u escape")
                        }
                        position += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("lone UTF-16 surrogate in a \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail("lone UTF-16 surrogate in a \\u escape")
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                default: throw fail("invalid escape '\\\(printable(e))'")
                }
            }
            return String(decoding: out, as: UTF8.self)
        }

        func printable(_ c: UInt8) -> String {
            (0x21...0x7E).contains(c) ? String(UnicodeScalar(c)) : "0x" + String(c, radix: 16)
        }
    }

    /// True when `bytes` is well-formed UTF-8 (no overlong forms, surrogates or values past U+10FFFF).
    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b < 0x80 { i += 1; continue }
            let length: Int
            var lower: UInt8 = 0x80, upper: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; upper = 0x9F
            case 0xF0: length = 4; lower = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; upper = 0x8F
            default: return false
            }
            guard n - i >= length else { return false }
            guard (lower...upper).contains(bytes[i + 1]) else { return false }
            for k in 2..<max(length, 2) where !(0x80...0xBF).contains(bytes[i + k]) { return false }
            i += length
        }
        return true
    }

    // MARK: - Writing

    /// Appends `s` as a JSON string the way serde_json does: `"` and `\` escaped, control characters as `\b \t
    /// \n \f \r` or `\u00xx` (lower-case hex), everything else (DEL, non-ASCII) as raw UTF-8.
    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): out += [0x5C, 0x22]
            case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
            case 0x08: out += [0x5C, UInt8(ascii: "b")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0C: out += [0x5C, UInt8(ascii: "f")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8) + [hex[Int(c >> 4)], hex[Int(c & 15)]]
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// A name for error messages: quoted, cut to 120 characters.
    static func quote(_ s: String) -> String {
        s.count <= 120 ? "'\(s)'" : "'\(s.prefix(120))…'"
    }
}
