import Foundation

/// The few Python string rules the dataset readers copy (Ultralytics reads its text files with `str.strip()`,
/// `str.splitlines()`, `str.split()`, `float()` and sorts paths as Python strings).
enum PythonText {
    /// `str.isspace()` characters: what `str.split()` and `str.strip()` treat as whitespace.
    static func isWhitespace(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// Line boundaries of `str.splitlines()` (`\r\n` counts once).
    static func isLineBreak(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x0A...0x0D, 0x1C...0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    /// `str.splitlines()`: lines without their terminators; no empty last line for a trailing break.
    static func splitLines(_ text: String) -> [String] {
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        var previousWasCR = false
        var any = false
        for u in text.unicodeScalars {
            if previousWasCR && u == "\n" { previousWasCR = false; continue }
            previousWasCR = false
            if isLineBreak(u) {
                lines.append(String(current)); current = String.UnicodeScalarView(); any = false
                previousWasCR = u == "\r"
            } else {
                current.append(u); any = true
            }
        }
        if any { lines.append(String(current)) }
        return lines
    }

    /// `str.strip()`.
    static func strip(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        var lo = 0, hi = scalars.count
        while lo < hi, isWhitespace(scalars[lo]) { lo += 1 }
        while hi > lo, isWhitespace(scalars[hi - 1]) { hi -= 1 }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[lo..<hi])
        return String(view)
    }

    /// `str.split()` with no separator: runs of whitespace separate, none at the ends.
    static func splitWhitespace(_ text: String) -> [String] {
        var fields: [String] = []
        var current = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            if isWhitespace(u) {
                if !current.isEmpty { fields.append(String(current)); current = String.UnicodeScalarView() }
            } else {
                current.append(u)
            }
        }
        if !current.isEmpty { fields.append(String(current)) }
        return fields
    }

    /// Python `float(text)` for ASCII text: decimal numbers with optional `_` between digits, `inf`,
    /// `infinity`, `nan` with an optional sign, any case. nil where Python raises (hex, empty, stray characters).
    /// (Python also takes non-ASCII decimal digits; label files do not use them.)
    static func parseFloat(_ text: String) -> Double? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
        var i = 0
        var sign = ""
        if bytes[0] == UInt8(ascii: "+") || bytes[0] == UInt8(ascii: "-") { sign = bytes[0] == UInt8(ascii: "-") ? "-" : ""; i = 1 }
        let rest = String(decoding: bytes[i...], as: UTF8.self).lowercased()
        if rest == "inf" || rest == "infinity" { return sign == "-" ? -.infinity : .infinity }
        if rest == "nan" { return .nan }
        // digits ('_' only between two digits), optional fraction, optional exponent
        var cleaned = sign
        var sawDigit = false
        func digits(_ allowEmpty: Bool) -> Bool {
            var count = 0
            while i < bytes.count {
                let b = bytes[i]
                if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                    cleaned.append(Character(Unicode.Scalar(b))); count += 1; i += 1
                } else if b == UInt8(ascii: "_"), count > 0, i + 1 < bytes.count,
                          bytes[i + 1] >= UInt8(ascii: "0") && bytes[i + 1] <= UInt8(ascii: "9") {
                    i += 1
                } else { break }
            }
            if count > 0 { sawDigit = true }
            return count > 0 || allowEmpty
        }
        _ = digits(true)
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            cleaned.append("."); i += 1
            _ = digits(true)
        }
        guard sawDigit else { return nil }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            cleaned.append("e"); i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") {
                cleaned.append(Character(Unicode.Scalar(bytes[i]))); i += 1
            }
            sawDigit = false
            _ = digits(false)
            guard sawDigit else { return nil }
        }
        guard i == bytes.count else { return nil }
        if cleaned.hasPrefix(".") || cleaned.hasPrefix("-.") { cleaned = cleaned.replacingOccurrences(of: ".", with: "0.") }
        return Double(cleaned)
    }

    /// Python's string order (code point by code point), which `sorted()` uses for paths.
    static func precedes(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }

    /// Bytes read as Python's `open(..., encoding="utf-8", errors="ignore")` does: invalid sequences dropped.
    static func decodeUTF8IgnoringErrors(_ bytes: [UInt8]) -> String {
        var view = String.UnicodeScalarView()
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let u): view.append(u)
            case .emptyInput: break loop
            case .error: continue
            }
        }
        return String(view)
    }

    /// Strict UTF-8 (nil on an invalid sequence), without a leading byte-order mark (`utf-8-sig`).
    static func decodeUTF8SIG(_ bytes: [UInt8]) -> String? {
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        return String(validating: body, as: UTF8.self)
    }
}
