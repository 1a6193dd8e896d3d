import Foundation
import XCTest
@testable import YOLOKit

/// Safetensors writer and reader: the reference byte layout, round trips of every dtype, F16/BF16 rounding
/// against known bit patterns, and hostile files (each one clear `ModelLoadError`, never a crash).
final class SafetensorsTests: TemporaryFolderTestCase {
    /// One tensor of every dtype, with element bytes 0, 1, 2, … (plus a scalar and an empty tensor).
    static func sampleTensors() -> [WeightTensor] {
        var tensors = WeightDType.allCases.enumerated().map { i, dtype -> WeightTensor in
            let shape = [2, i % 3 + 1]
            let count = shape.reduce(1, *) * dtype.byteSize
            return WeightTensor(name: "t.\(dtype.rawValue.lowercased())", dtype: dtype, shape: shape,
                                data: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ i) })
        }
        tensors.append(WeightTensor(name: "scalar", shape: [], int64s: [-7]))
        tensors.append(WeightTensor(name: "empty", shape: [0, 3], floats: [], dtype: .float16))
        tensors.append(WeightTensor(name: "model.0.conv.weight", shape: [2, 2], floats: [0.5, -1, 3.25, 1e-3]))
        return tensors
    }

    func testRoundTripOfEveryDType() throws {
        let tensors = SafetensorsTests.sampleTensors()
        let metadata = ["format": "pt", "names": "{\"0\": \"person\"}", "ünï": "line\nbreak\t\u{1}\"\\"]
        let path = tempDir.appendingPathComponent("all.safetensors").path
        try SafetensorsWriter.write(tensors, metadata: metadata, to: path)
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.metadata, metadata)
        XCTAssertEqual(file.entries.count, tensors.count)
        for t in tensors {
            XCTAssertEqual(try file.tensor(named: t.name), t, t.name)
            XCTAssertEqual(try file.floats(named: t.name).map(\.bitPattern), t.floats().map(\.bitPattern), t.name)
        }
        XCTAssertEqual(Set(file.tensors().map(\.name)), Set(tensors.map(\.name)))
        XCTAssertEqual(try file.floats(named: "model.0.conv.weight"), [0.5, -1, 3.25, 1e-3])
        XCTAssertEqual(try file.floats(named: "scalar"), [-7])
        XCTAssertThrowsError(try file.tensor(named: "missing")) { error in
            XCTAssertEqual((error as? ModelLoadError)?.reason, "no tensor named 'missing'")
        }
        // The file equals the in-memory serialization, and the output is deterministic.
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(bytes, try SafetensorsWriter.serialize(tensors, metadata: metadata))
        XCTAssertEqual(bytes, try SafetensorsWriter.serialize(tensors.reversed(), metadata: metadata))
        // The in-memory reader agrees with the mapped one.
        XCTAssertEqual(try SafetensorsFile(bytes: bytes, path: "mem").entries, file.entries)
        // Only the file itself is left in the folder (the temporary file was renamed).
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tempDir.path), ["all.safetensors"])
    }

    /// The header as the reference implementation writes it: compact JSON, spaces up to a multiple of 8,
    /// tensors by descending dtype alignment then name, `__metadata__` first.
    func testHeaderLayoutBytes() throws {
        func split(_ file: [UInt8]) -> (UInt64, String, [UInt8]) {
            let n = file[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            return (n, String(decoding: file[8..<(8 + Int(n))], as: UTF8.self), Array(file[(8 + Int(n))...]))
        }
        XCTAssertEqual(try SafetensorsWriter.serialize([]), [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
        XCTAssertEqual(try SafetensorsWriter.serialize([], metadata: ["framework": "pt"]),
                       [40, 0, 0, 0, 0, 0, 0, 0] + Array("{\"__metadata__\":{\"framework\":\"pt\"}}     ".utf8))

        let values: [Float] = [0, 1, 2, 3, 4, 5]
        let one = try SafetensorsWriter.serialize([WeightTensor(name: "attn.0", shape: [1, 2, 3], floats: values)])
        let (n, header, data) = split(one)
        XCTAssertEqual(n, 64)  // exactly 64 bytes of JSON: no padding
        XCTAssertEqual(header, "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}")
        let (n1, header1, _) = split(try SafetensorsWriter.serialize([WeightTensor(name: "attn0", shape: [1, 1, 2, 3], floats: values)]))
        XCTAssertEqual(n1, 72)
        XCTAssertEqual(header1, "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}" + String(repeating: " ", count: 7))
        XCTAssertEqual(data, values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } })

        let mixed = try SafetensorsWriter.serialize([
            WeightTensor(name: "b", dtype: .uint8, shape: [1], data: [9]),
            WeightTensor(name: "z", shape: [1], floats: [1], dtype: .float16),
            WeightTensor(name: "a", shape: [1], floats: [2]),
            WeightTensor(name: "c", shape: [], int64s: [3]),
            WeightTensor(name: "B", shape: [1], floats: [4]),
        ], metadata: ["k2": "v", "k1": "é\u{7}"])
        let (n2, header2, data2) = split(mixed)
        XCTAssertEqual(n2 % 8, 0)
        XCTAssertEqual(header2.trimmingCharacters(in: .whitespaces),
                       "{\"__metadata__\":{\"k1\":\"é\\u0007\",\"k2\":\"v\"},\"c\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
                       + "\"B\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]},"
                       + "\"z\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[16,18]},\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[18,19]}}")
        XCTAssertEqual(data2.count, 19)
        XCTAssertEqual(data2.last, 9)
    }

    func testFloat16KnownBitPatterns() {
        let cases: [(Float, UInt16)] = [
            (0, 0x0000), (-0.0, 0x8000), (1, 0x3C00), (-2, 0xC000), (0.5, 0x3800), (0.1, 0x2E66), (65504, 0x7BFF),
            (65519.996, 0x7BFF), (65520, 0x7C00), (1e9, 0x7C00), (.infinity, 0x7C00), (-.infinity, 0xFC00),
            (Float(bitPattern: 0x3880_0000), 0x0400),        // 2^-14, smallest normal
            (Float(bitPattern: 0x3380_0000), 0x0001),        // 2^-24, smallest subnormal
            (Float(bitPattern: 0x3300_0000), 0x0000),        // 2^-25: tie between 0 and 2^-24 → even (0)
            (Float(bitPattern: 0x3340_0000), 0x0001),        // 1.5 × 2^-25 → 2^-24
            (Float(bitPattern: 0x387F_C000), 0x03FF),        // 1023 × 2^-24, the largest subnormal
            (Float(bitPattern: 0x387F_E000), 0x0400),        // 1023.5 × 2^-24: tie → even (1024, the smallest normal)
            (Float(bitPattern: 0x3F80_1000), 0x3C00),        // 1 + 2^-11: tie → even (1)
            (Float(bitPattern: 0x3F80_3000), 0x3C02),        // 1 + 3·2^-11: tie → even (1 + 2^-9)
            (Float(bitPattern: 0x3F80_1001), 0x3C01),        // just above the tie → up
            (1e-10, 0x0000), (-1e-10, 0x8000),
        ]
        for (x, bits) in cases {
            XCTAssertEqual(FloatBits.float16(x), bits, "\(x) (0x\(String(x.bitPattern, radix: 16)))")
        }
        XCTAssertEqual(FloatBits.float16(.nan), 0x7E00)
        XCTAssertEqual(FloatBits.float16(-Float.nan), 0xFE00)
        XCTAssertEqual(FloatBits.float16(Float(bitPattern: 0x7F80_0001)), 0x7E00)  // signalling NaN stays NaN
        XCTAssertEqual(FloatBits.float(fromFloat16: 0x3555), 0.33325195)
        XCTAssertEqual(FloatBits.float(fromFloat16: 0x0001), Float(bitPattern: 0x3380_0000))
        // Every half value widens exactly and narrows back to itself (NaNs to a NaN).
        for h in 0...UInt16.max {
            let f = FloatBits.float(fromFloat16: h)
            if h & 0x7C00 == 0x7C00 && h & 0x03FF != 0 {
                XCTAssertTrue(f.isNaN)
                XCTAssertEqual(FloatBits.float16(f) & 0x7E00, 0x7E00)
            } else if FloatBits.float16(f) != h {
                XCTFail("half 0x\(String(h, radix: 16)) → \(f) → 0x\(String(FloatBits.float16(f), radix: 16))")
            }
        }
        #if os(Linux) && arch(x86_64)
        // Against the standard library's Float16 (IEEE round-to-nearest-even) on a million seeded floats.
        var random = SeededRandom(seed: 16)
        for _ in 0..<1_000_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: random.next()))
            guard !f.isNaN else { continue }
            XCTAssertEqual(FloatBits.float16(f), Float16(f).bitPattern, "\(f)")
        }
        #endif
    }

    func testBFloat16KnownBitPatterns() {
        let cases: [(UInt32, UInt16)] = [
            (0x3F80_0000, 0x3F80),  // 1
            (0x3F80_8000, 0x3F80),  // tie, even below
            (0x3F81_8000, 0x3F82),  // tie, even above
            (0x3F80_8001, 0x3F81),  // past the tie
            (0x3F80_7FFF, 0x3F80),
            (0x7F7F_FFFF, 0x7F80),  // Float.greatestFiniteMagnitude rounds to ∞
            (0x7F80_0000, 0x7F80), (0xFF80_0000, 0xFF80), (0x8000_0000, 0x8000), (0x0000_0001, 0x0000),
            (0xC049_0FDB, 0xC049),  // -π
        ]
        for (bits, expected) in cases {
            XCTAssertEqual(FloatBits.bfloat16(Float(bitPattern: bits)), expected, "0x\(String(bits, radix: 16))")
        }
        XCTAssertEqual(FloatBits.bfloat16(.nan), 0x7FC0)
        XCTAssertEqual(FloatBits.bfloat16(-Float.nan), 0x7FC0)  // torch's c10 scalar conversion
        for b in 0...UInt16.max where !(b & 0x7F80 == 0x7F80 && b & 0x7F != 0) {
            XCTAssertEqual(FloatBits.bfloat16(FloatBits.float(fromBFloat16: b)), b)
        }
        // The float initializer stores what FloatBits gives.
        let t = WeightTensor(name: "x", shape: [2], floats: [1, -.infinity], dtype: .bfloat16)
        XCTAssertEqual(t.data, [0x80, 0x3F, 0x80, 0xFF])
        XCTAssertEqual(t.floats(), [1, -.infinity])
    }

    func testWriterRejectsInconsistentTensorsAndLeavesNoFile() throws {
        let path = tempDir.appendingPathComponent("bad.safetensors").path
        let good = WeightTensor(name: "a", shape: [2], floats: [1, 2])
        let cases: [([WeightTensor], String)] = [
            ([WeightTensor(name: "a", dtype: .float32, shape: [3], data: [0, 0, 0, 0])], "has 4 bytes but shape [3] of F32 needs 12"),
            ([WeightTensor(name: "a", dtype: .float32, shape: [-1], data: [])], "negative dimension"),
            ([WeightTensor(name: "a", dtype: .uint8, shape: [1 << 40, 1 << 40], data: [])], "overflows"),
            ([good, good], "two tensors are named 'a'"),
            ([WeightTensor(name: "__metadata__", shape: [1], floats: [1])], "__metadata__"),
        ]
        for (tensors, expected) in cases {
            XCTAssertThrowsError(try SafetensorsWriter.write(tensors, to: path)) { error in
                guard let e = error as? WeightsWriteError else { return XCTFail("\(error)") }
                XCTAssertEqual(e.path, path)
                XCTAssertTrue(e.reason.contains(expected), e.reason)
            }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tempDir.path), [])
        XCTAssertThrowsError(try SafetensorsWriter.write([good], to: tempDir.appendingPathComponent("no/such/folder/x.safetensors").path)) {
            XCTAssertTrue(($0 as? WeightsWriteError)?.reason.contains("cannot create a temporary file") == true, "\($0)")
        }
        // A failed write over an existing file leaves it as it was; a good one replaces it.
        try SafetensorsWriter.write([good], to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SafetensorsWriter.write([good, good], to: path))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
        try SafetensorsWriter.write([WeightTensor(name: "b", shape: [1], floats: [3])], to: path)
        XCTAssertEqual(try SafetensorsFile(path: path).entries.map(\.name), ["b"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tempDir.path), ["bad.safetensors"])
    }

    // MARK: - Hostile files

    /// A file from a header string (padded with spaces) and `data` bytes of data section.
    static func file(_ header: String, data: Int = 0, length: UInt64? = nil) -> [UInt8] {
        var json = Array(header.utf8)
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)
        let n = length ?? UInt64(json.count)
        return withUnsafeBytes(of: n.littleEndian) { Array($0) } + json + [UInt8](repeating: 0xAB, count: data)
    }

    func expectRejected(_ bytes: [UInt8], _ expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try writeTemp("hostile.safetensors", bytes)
        for attempt in 0..<2 {
            do {
                _ = attempt == 0 ? try SafetensorsFile(path: path) : try SafetensorsFile(bytes: bytes, path: path)
                XCTFail("accepted a file that should fail with '\(expected)'", file: file, line: line)
            } catch let e as ModelLoadError {
                XCTAssertEqual(e.path, path, file: file, line: line)
                XCTAssertTrue(e.description.hasPrefix(path + ": "), e.description, file: file, line: line)
                XCTAssertTrue(e.reason.contains(expected), "'\(e.reason)' does not contain '\(expected)'", file: file, line: line)
                XCTAssertFalse(e.description.contains("\n"), file: file, line: line)
            } catch {
                XCTFail("unexpected error type: \(error)", file: file, line: line)
            }
        }
    }

    func testHostileFiles() throws {
        let f32 = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        XCTAssertNoThrow(try SafetensorsFile(bytes: SafetensorsTests.file(f32, data: 8), path: "ok"))

        try expectRejected([], "the file is 0 bytes, shorter than the 8-byte header length")
        try expectRejected([1, 2, 3], "shorter than the 8-byte header length")
        try expectRejected(SafetensorsTests.file(f32, data: 8, length: UInt64.max), "header length 18446744073709551615 exceeds the limit")
        try expectRejected(SafetensorsTests.file(f32, data: 8, length: 100_000_001), "exceeds the limit of 100000000 bytes")
        try expectRejected(SafetensorsTests.file(f32, data: 8, length: 4096), "header length 4096 runs past the end of the file")
        try expectRejected(Array(SafetensorsTests.file(f32, data: 8).prefix(30)), "runs past the end of the file")  // truncated header
        try expectRejected(SafetensorsTests.file(f32, data: 5), "lie beyond the end of the data section (5 bytes)")   // truncated data
        try expectRejected([8, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0xFF, 0xFE, 0x7D, 0x20, 0x20, 0x20, 0x20], "not valid UTF-8")
        try expectRejected([8, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x22, 0xC0, 0xAF, 0x22, 0x7D, 0x20, 0x20], "not valid UTF-8")  // overlong
        try expectRejected(SafetensorsTests.file(#"{"a":"#), "not valid JSON")
        try expectRejected(SafetensorsTests.file(#"{} x"#), "unexpected characters after the JSON value")
        try expectRejected(SafetensorsTests.file(#"{"a":1,}"#), "not valid JSON")
        try expectRejected(SafetensorsTests.file(#"[]"#), "the header is an array, not a JSON object")
        try expectRejected(SafetensorsTests.file(""), "not valid JSON: unexpected end of the header")
        try expectRejected(SafetensorsTests.file(String(repeating: "[", count: 100_000)), "nested deeper than 64 levels")
        try expectRejected(SafetensorsTests.file("{\"a\u{1}\":1}"), "raw control character")
        try expectRejected(SafetensorsTests.file(#"{"\ud800":1}"#), "lone UTF-16 surrogate")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#, data: 1),
                           "tensor 'a': unknown dtype 'F8_E4M3'")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":7,"shape":[1],"data_offsets":[0,1]}}"#, data: 1), "dtype is a number, not a string")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8),
                           "tensor 'a': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: 12),
                           "tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a' ([0, 8])")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, data: 12),
                           "data bytes 4..<8 belong to no tensor (a gap before 'b')")
        try expectRejected(SafetensorsTests.file(#"{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8), "data bytes 0..<4 belong to no tensor")
        try expectRejected(SafetensorsTests.file(f32, data: 12), "the last 4 bytes of the data section belong to no tensor")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, data: 16),
                           "duplicate key 'a'")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: 8), "dimension 0 of the shape -2 is negative")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#, data: 8), "2.0 is not an integer")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F32","shape":[1e1],"data_offsets":[0,8]}}"#, data: 8), "is not an integer")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}"#, data: 8), "is a string, not an integer")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}"#, data: 8), "is too large")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, data: 8),
                           "the element count of shape [4294967296, 4294967296] overflows")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}"#, data: 8), "the byte size of shape")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: 8), "data_offsets [8, 0] end before they begin")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, data: 8), "data_offsets is an array of the wrong length")
        try expectRejected(SafetensorsTests.file(#"{"a":{"dtype":"F32","data_offsets":[0,8]}}"#, data: 8), "tensor 'a': no \"shape\"")
        try expectRejected(SafetensorsTests.file(#"{"a":[]}"#), "tensor 'a': entry is an array, not an object")
        try expectRejected(SafetensorsTests.file(#"{"__metadata__":{"k":1}}"#), "__metadata__ value of 'k' is a number, not a string")
        try expectRejected(SafetensorsTests.file(#"{"__metadata__":{"k":{"x":"y"}}}"#), "is an object, not a string")
        try expectRejected(SafetensorsTests.file(#"{"__metadata__":["k"]}"#), "__metadata__ is an array, not an object of strings")
        // Names with control characters stay on one line in the message.
        try expectRejected(SafetensorsTests.file(#"{"a\nb":{"dtype":"X","shape":[],"data_offsets":[0,0]}}"#), "tensor 'a\\nb': unknown dtype")

        // Valid edge cases: null metadata, zero-size tensors sharing an offset, unknown extra keys, escapes.
        let edge = SafetensorsTests.file(#"{"__metadata__":null,"z1":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"z2":{"dtype":"I8","shape":[2,0],"data_offsets":[0,0],"extra":[1,{"q":null}]},"s\u00e9\/":{"dtype":"BOOL","shape":[],"data_offsets":[0,1]}}"#, data: 1)
        let parsed = try SafetensorsFile(bytes: edge, path: "edge")
        XCTAssertEqual(parsed.metadata, [:])
        XCTAssertEqual(parsed.entries.map(\.name).sorted(), ["sé/", "z1", "z2"])
        XCTAssertEqual(try parsed.floats(named: "sé/"), [1])
    }

    func testFileSystemErrors() throws {
        let missing = tempDir.appendingPathComponent("missing.safetensors").path
        XCTAssertThrowsError(try SafetensorsFile(path: missing)) {
            XCTAssertEqual(($0 as? ModelLoadError), ModelLoadError(path: missing, reason: "file not found"))
        }
        XCTAssertThrowsError(try SafetensorsFile(path: tempDir.path)) {
            XCTAssertEqual(($0 as? ModelLoadError)?.reason, "not a regular file")
        }
    }
}
