import Foundation
import XCTest
@testable import YOLOKit

/// Builds pickle byte streams opcode by opcode (for hand-made and hostile inputs).
struct PickleBuilder {
    var bytes: [UInt8] = []

    @discardableResult mutating func op(_ code: UInt8, _ args: [UInt8] = []) -> PickleBuilder {
        bytes.append(code)
        bytes.append(contentsOf: args)
        return self
    }
    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    mutating func proto(_ v: UInt8 = 2) { op(0x80, [v]) }
    mutating func stop() { op(0x2E) }
    mutating func mark() { op(0x28) }
    mutating func none() { op(0x4E) }
    mutating func bool(_ v: Bool) { op(v ? 0x88 : 0x89) }
    mutating func int(_ v: Int) {
        if v >= 0 && v < 256 { op(0x4B, [UInt8(v)]) } else if v >= 0 && v < 65536 { op(0x4D, PickleBuilder.le(UInt16(v))) } else if let i = Int32(exactly: v) {
            op(0x4A, PickleBuilder.le(i))
        } else { op(0x8A, [8] + PickleBuilder.le(Int64(v))) }
    }
    mutating func float(_ v: Double) { op(0x47, withUnsafeBytes(of: v.bitPattern.bigEndian) { Array($0) }) }
    mutating func string(_ s: String) { let u = Array(s.utf8); op(0x58, PickleBuilder.le(UInt32(u.count)) + u) }
    mutating func shortString(_ s: String) { let u = Array(s.utf8); op(0x8C, [UInt8(u.count)] + u) }
    mutating func global(_ module: String, _ name: String) { op(0x63, Array((module + "\n" + name + "\n").utf8)) }
    mutating func emptyTuple() { op(0x29) }
    mutating func tuple() { op(0x74) }
    mutating func tuple1() { op(0x85) }
    mutating func tuple2() { op(0x86) }
    mutating func tuple3() { op(0x87) }
    mutating func emptyList() { op(0x5D) }
    mutating func emptyDict() { op(0x7D) }
    mutating func append() { op(0x61) }
    mutating func appends() { op(0x65) }
    mutating func setItem() { op(0x73) }
    mutating func setItems() { op(0x75) }
    mutating func reduce() { op(0x52) }
    mutating func newObj() { op(0x81) }
    mutating func build() { op(0x62) }
    mutating func binPersId() { op(0x51) }
    mutating func put(_ i: Int) { if i < 256 { op(0x71, [UInt8(i)]) } else { op(0x72, PickleBuilder.le(UInt32(i))) } }
    mutating func get(_ i: Int) { if i < 256 { op(0x68, [UInt8(i)]) } else { op(0x6A, PickleBuilder.le(UInt32(i))) } }

    /// Pushes a tuple of ints (MARK … TUPLE).
    mutating func intTuple(_ v: [Int]) {
        mark()
        for x in v { int(x) }
        tuple()
    }

    /// Pushes `torch._utils._rebuild_tensor_v2(storage('storage', torch.<cls>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`.
    mutating func tensor(storageClass: String = "FloatStorage", key: String, numel: Int, offset: Int = 0, size: [Int], stride: [Int]) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        mark()
        string("storage")
        global("torch", storageClass)
        string(key)
        string("cpu")
        int(numel)
        tuple()
        binPersId()
        int(offset)
        intTuple(size)
        intTuple(stride)
        bool(false)
        global("collections", "OrderedDict")
        emptyTuple()
        reduce()
        tuple()
        reduce()
    }

    /// A complete pickle whose value is the single tensor above.
    static func tensorPickle(storageClass: String = "FloatStorage", key: String = "0", numel: Int, offset: Int = 0,
                             size: [Int], stride: [Int]) -> [UInt8] {
        var p = PickleBuilder()
        p.proto()
        p.tensor(storageClass: storageClass, key: key, numel: numel, offset: offset, size: size, stride: stride)
        p.stop()
        return p.bytes
    }
}

/// Asserts that `body` throws a ModelLoadError whose description contains every string in `contains`.
func assertLoadError(_ contains: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected a ModelLoadError containing \(contains), nothing was thrown", file: file, line: line)
    } catch let error as ModelLoadError {
        for s in contains where !error.description.contains(s) {
            XCTFail("error \"\(error.description)\" does not contain \"\(s)\"", file: file, line: line)
        }
    } catch {
        XCTFail("expected a ModelLoadError, got \(error)", file: file, line: line)
    }
}

final class UnpicklerTests: XCTestCase {
    func load(_ bytes: [UInt8]) throws -> PickleValue { try Unpickler.load(bytes, path: "test.pkl") }

    // MARK: - Python-generated fixtures (every protocol)

    func testBasicFixturesEveryProtocol() throws {
        for p in 0...5 {
            let bytes = try readBytes(TestPaths.fixture("pickle/basic_p\(p).pkl"))
            let v = try load(bytes)
            let ctx = "protocol \(p)"
            XCTAssertEqual(v.value(forKey: "int")?.intValue, 1, ctx)
            XCTAssertEqual(v.value(forKey: "neg")?.intValue, -5, ctx)
            XCTAssertEqual(v.value(forKey: "i2")?.intValue, 40000, ctx)
            XCTAssertEqual(v.value(forKey: "i4")?.intValue, -2_000_000_000, ctx)
            XCTAssertEqual(v.value(forKey: "big")?.intValue, 1 << 40, ctx)
            XCTAssertEqual(v.value(forKey: "neg_big")?.intValue, -(1 << 62), ctx)
            XCTAssertEqual(v.value(forKey: "float")?.doubleValue, 1.5, ctx)
            XCTAssertEqual(v.value(forKey: "neg_float")?.doubleValue, -0.1, ctx)
            XCTAssertEqual(v.value(forKey: "str")?.stringValue, "h\u{e9}llo \u{2603} \u{1F600}\n\\u", ctx)
            XCTAssertEqual(v.value(forKey: "empty_str")?.stringValue, "", ctx)
            XCTAssertEqual(v.value(forKey: "list")?.items?.compactMap(\.intValue), [1, 2, 3], ctx)
            XCTAssertEqual(v.value(forKey: "long_list")?.items?.compactMap(\.intValue), Array(0..<1100), ctx)
            guard case .tuple(let t0)? = v.value(forKey: "tuple0"), case .tuple(let t1)? = v.value(forKey: "tuple1"),
                  case .tuple(let t2)? = v.value(forKey: "tuple2"), case .tuple(let t3)? = v.value(forKey: "tuple3"),
                  case .tuple(let t4)? = v.value(forKey: "tuple4") else { return XCTFail("tuples are not tuples (\(ctx))") }
            XCTAssertEqual([t0, t1, t2, t3, t4].map(\.count), [0, 1, 2, 3, 4], ctx)
            XCTAssertEqual(t4.compactMap(\.intValue), [1, 2, 3, 4], ctx)
            XCTAssertEqual(Set(v.value(forKey: "set")?.items?.compactMap(\.intValue) ?? []), [1, 2, 3], ctx)
            XCTAssertEqual(v.value(forKey: "frozenset")?.items?.compactMap(\.intValue), [5], ctx)
            guard case .none? = v.value(forKey: "none") else { return XCTFail(ctx) }
            XCTAssertEqual(v.value(forKey: "true")?.boolValue, true, ctx)
            XCTAssertEqual(v.value(forKey: "false")?.boolValue, false, ctx)
            // [[1, [2, [3, {"k": (4,)}]]]]
            let n0 = v.value(forKey: "nested")?.items?[0].items
            XCTAssertEqual(n0?[0].intValue, 1, ctx)
            let n2 = n0?[1].items?[1].items
            XCTAssertEqual(n2?[0].intValue, 3, ctx)
            XCTAssertEqual(n2?[1].value(forKey: "k")?.items?.first?.intValue, 4, ctx)
            let shared = v.value(forKey: "shared")?.items
            XCTAssertEqual(shared?.count, 2, ctx)
            for s in shared ?? [] {
                XCTAssertEqual(s.items?.first?.intValue, 7, ctx)
                XCTAssertEqual(s.items?.last?.stringValue, "seven", ctx)
            }
            let od = v.value(forKey: "od")?.dictItems
            XCTAssertEqual(od?.map { $0.key.stringValue ?? "?" }, ["b", "a"], ctx)
            XCTAssertEqual(od?.map { $0.value.intValue ?? -1 }, [2, 1], ctx)
            let intKeys = v.value(forKey: "int_keys")?.dictItems
            XCTAssertEqual(intKeys?.map { $0.key.intValue ?? -1 }, [0, 1], ctx)
            XCTAssertEqual(intKeys?.map { $0.value.stringValue ?? "" }, ["Normal", "Fall"], ctx)
            let bigDict = v.value(forKey: "big_dict")?.dictItems
            XCTAssertEqual(bigDict?.count, 1050, ctx)
            XCTAssertEqual(v.value(forKey: "big_dict")?.value(forKey: "k1049")?.intValue, 1049, ctx)
            if p >= 3 {
                guard case .bytes(let b)? = v.value(forKey: "bytes"), case .bytes(let lb)? = v.value(forKey: "long_bytes") else {
                    return XCTFail("bytes missing (\(ctx))")
                }
                XCTAssertEqual(b, [0, 1, 255], ctx)
                XCTAssertEqual(lb, Array(0...255) + Array(0...255), ctx)
            }
            if p >= 5 {
                guard case .bytes(let ba)? = v.value(forKey: "bytearray") else { return XCTFail("bytearray missing") }
                XCTAssertEqual(ba, Array("ab".utf8))
            }
        }
    }

    /// Every proper prefix of a valid pickle is an error (never a crash, never a value).
    func testEveryTruncationIsAnError() throws {
        // All prefixes of: the hand-built pickle (rare opcodes), protocol 4 (frames, memoize, sets) and the pickle
        // of the torch.save fixture; every 5th prefix (plus the last 64) of protocols 0, 2 and 5.
        var inputs: [(bytes: [UInt8], step: Int)] = [(handBuiltEverything(), 1)]
        inputs.append((try readBytes(TestPaths.fixture("pickle/basic_p4.pkl")), 1))
        inputs.append((try TorchCheckpointTests.entryBytes(TestPaths.fixture("pickle/tiny_checkpoint.pt"), "tiny_checkpoint/data.pkl"), 1))
        for p in [0, 2, 5] { inputs.append((try readBytes(TestPaths.fixture("pickle/basic_p\(p).pkl")), 5)) }
        for (input, step) in inputs {
            XCTAssertNoThrow(try load(input))
            for n in Array(stride(from: 0, to: input.count, by: step)) + Array(max(0, input.count - 64)..<input.count) {
                do {
                    _ = try load(Array(input[0..<n]))
                    XCTFail("prefix of \(n) bytes did not throw")
                } catch let error as ModelLoadError {
                    XCTAssertTrue(error.reason.contains("pickle"), error.reason)
                }
            }
        }
        assertLoadError(["truncated pickle at offset 0"]) { _ = try self.load([]) }
        assertLoadError(["truncated pickle at offset 2"]) { _ = try self.load([0x80, 0x02, 0x58, 5, 0, 0]) }
    }

    // MARK: - Hand-built opcodes

    /// A pickle using the opcodes Python's pickle module rarely or never emits.
    func handBuiltEverything() -> [UInt8] {
        var p = PickleBuilder()
        p.proto(4)
        p.op(0x95, PickleBuilder.le(UInt64(5)))  // FRAME (length is not enforced)
        p.mark()
        p.op(0x8D, PickleBuilder.le(UInt64(2)) + Array("u8".utf8))           // BINUNICODE8
        p.op(0x8E, PickleBuilder.le(UInt64(3)) + [1, 2, 3])                  // BINBYTES8
        p.op(0x54, PickleBuilder.le(Int32(2)) + Array("bs".utf8))            // BINSTRING
        p.op(0x55, [3] + Array("sbs".utf8))                                  // SHORT_BINSTRING
        p.op(0x43, [2, 9, 8])                                                // SHORT_BINBYTES
        p.op(0x42, PickleBuilder.le(UInt32(1)) + [7])                        // BINBYTES
        p.op(0x96, PickleBuilder.le(UInt64(1)) + [6])                        // BYTEARRAY8
        p.op(0x8B, PickleBuilder.le(Int32(3)) + [0x00, 0x80, 0x00])          // LONG4 32768
        p.op(0x8A, [1, 0xFF])                                                // LONG1 -1
        p.op(0x8A, [0])                                                      // LONG1 0
        p.op(0x8A, [9] + [0, 0, 0, 0, 0, 0, 0, 0x80, 0xFF])                 // LONG1 -2^63 (9 bytes, sign-extended)
        p.op(0x49, Array("01\n".utf8))                                       // INT True
        p.op(0x49, Array("-12\n".utf8))                                      // INT
        p.op(0x4C, Array("123456789012L\n".utf8))                            // LONG
        p.op(0x46, Array("2.5\n".utf8))                                      // FLOAT
        p.op(0x56, Array("a\\u00e9\\U0001f600\n".utf8))                      // UNICODE
        p.int(42)
        p.op(0x32)                                                           // DUP
        p.op(0x30)                                                           // POP (drops the DUP)
        p.mark()
        p.int(1)
        p.int(2)
        p.op(0x31)                                                           // POP_MARK
        p.mark()
        p.shortString("k")
        p.int(5)
        p.op(0x64)                                                           // DICT
        p.mark()
        p.int(1)
        p.op(0x6C)                                                           // LIST
        p.op(0x94)                                                           // MEMOIZE (memo 0 = [1])
        p.op(0x72, PickleBuilder.le(UInt32(70000)))                          // LONG_BINPUT 70000
        p.op(0x6A, PickleBuilder.le(UInt32(70000)))                          // LONG_BINGET 70000
        p.int(9)
        p.append()                                                           // the memoized list is now [1, 9]
        p.op(0x30)                                                           // POP (the second reference)
        p.shortString("ultralytics.nn.modules.conv")
        p.shortString("Conv")
        p.op(0x93)                                                           // STACK_GLOBAL
        p.mark()
        p.int(3)
        p.tuple()
        p.emptyDict()
        p.shortString("k")
        p.int(1)
        p.setItem()
        p.op(0x92)                                                           // NEWOBJ_EX Conv(3, k=1)
        p.op(0x8F)                                                           // EMPTY_SET
        p.mark()
        p.int(4)
        p.int(4)
        p.op(0x90)                                                           // ADDITEMS → {4}
        p.mark()
        p.int(6)
        p.op(0x91)                                                           // FROZENSET
        p.tuple()
        p.stop()
        return p.bytes
    }

    func testHandBuiltOpcodes() throws {
        let v = try load(handBuiltEverything())
        guard let items = v.items, items.count == 22 else { return XCTFail("expected a 22-tuple, got \(v)") }
        XCTAssertEqual(items[0].stringValue, "u8")
        guard case .bytes(let b8) = items[1] else { return XCTFail() }
        XCTAssertEqual(b8, [1, 2, 3])
        XCTAssertEqual(items[2].stringValue, "bs")
        XCTAssertEqual(items[3].stringValue, "sbs")
        guard case .bytes(let sb) = items[4], case .bytes(let bb) = items[5], case .bytes(let ba) = items[6] else { return XCTFail() }
        XCTAssertEqual(sb, [9, 8])
        XCTAssertEqual(bb, [7])
        XCTAssertEqual(ba, [6])
        XCTAssertEqual(items[7].intValue, 32768)
        XCTAssertEqual(items[8].intValue, -1)
        XCTAssertEqual(items[9].intValue, 0)
        XCTAssertEqual(items[10].intValue, Int.min)
        XCTAssertEqual(items[11].boolValue, true)
        XCTAssertEqual(items[12].intValue, -12)
        XCTAssertEqual(items[13].intValue, 123_456_789_012)
        XCTAssertEqual(items[14].doubleValue, 2.5)
        XCTAssertEqual(items[15].stringValue, "a\u{e9}\u{1F600}")
        XCTAssertEqual(items[16].intValue, 42)
        XCTAssertEqual(items[17].value(forKey: "k")?.intValue, 5)
        XCTAssertEqual(items[18].items?.compactMap(\.intValue), [1, 9], "the memo shares the list, mutated after MEMOIZE")
        guard case .object(let conv) = items[19] else { return XCTFail("NEWOBJ_EX did not make an object") }
        XCTAssertEqual(conv.qualifiedName, "ultralytics.nn.modules.conv.Conv")
        XCTAssertEqual(conv.args.compactMap(\.intValue), [3])
        XCTAssertEqual(conv.kwargs.first?.key.stringValue, "k")
        XCTAssertEqual(items[20].items?.compactMap(\.intValue), [4])
        XCTAssertEqual(items[21].items?.compactMap(\.intValue), [6])
    }

    func testObjectsBuildAndItems() throws {
        var p = PickleBuilder()
        p.proto()
        p.mark()
        // NEWOBJ nn.Module + BUILD with two dict states (merged) + SETITEMS/APPENDS on the object
        p.global("torch.nn.modules.container", "ModuleList")
        p.emptyTuple()
        p.newObj()
        p.put(1)
        p.emptyDict()
        p.string("a")
        p.int(1)
        p.setItem()
        p.build()
        p.emptyDict()
        p.mark()
        p.string("b")
        p.int(2)
        p.string("a")
        p.int(3)
        p.setItems()
        p.build()
        p.mark()
        p.string("x")
        p.none()
        p.setItems()
        p.mark()
        p.int(8)
        p.appends()
        p.get(1)  // the same object again
        // (dict, slots) state → merged dict
        p.global("ultralytics.utils", "IterableSimpleNamespace")
        p.emptyTuple()
        p.reduce()
        p.emptyDict()
        p.string("d")
        p.int(1)
        p.setItem()
        p.emptyDict()
        p.string("s")
        p.int(2)
        p.setItem()
        p.tuple2()
        p.build()
        // copyreg._reconstructor(cls, object, None)
        p.global("copy_reg", "_reconstructor")
        p.global("ultralytics.nn.tasks", "DetectionModel")
        p.global("__builtin__", "object")
        p.none()
        p.tuple3()
        p.reduce()
        // inert values: torch.device('cuda', 0), numpy scalar(dtype('f8'), bytes)
        p.global("torch", "device")
        p.string("cuda")
        p.int(0)
        p.tuple2()
        p.reduce()
        p.global("numpy.core.multiarray", "scalar")
        p.global("numpy", "dtype")
        p.string("f8")
        p.bool(false)
        p.bool(true)
        p.tuple3()
        p.reduce()
        p.mark()
        p.int(3)
        p.string("<")
        p.none()
        p.tuple()
        p.build()
        p.op(0x43, [8, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
        p.tuple2()
        p.reduce()
        // a bare name and torch.Size
        p.global("torch", "float16")
        p.global("torch", "Size")
        p.intTuple([2, 3])
        p.tuple1()
        p.reduce()
        p.tuple()
        p.stop()
        let v = try load(p.bytes)
        guard let items = v.items, items.count == 8 else { return XCTFail("\(v)") }
        guard case .object(let list) = items[0], case .object(let same) = items[1] else { return XCTFail() }
        XCTAssertTrue(list === same, "memo keeps object identity")
        XCTAssertEqual(list.qualifiedName, "torch.nn.modules.container.ModuleList")
        XCTAssertEqual(list.state?.dictItems?.map { $0.key.stringValue ?? "" }, ["a", "b"])
        XCTAssertEqual(list.stateValue(forKey: "a")?.intValue, 3)
        XCTAssertEqual(list.stateValue(forKey: "b")?.intValue, 2)
        XCTAssertEqual(list.dictItems.first?.key.stringValue, "x")
        XCTAssertEqual(list.listItems.compactMap(\.intValue), [8])
        guard case .object(let ns) = items[2] else { return XCTFail() }
        XCTAssertEqual(ns.stateValue(forKey: "d")?.intValue, 1)
        XCTAssertEqual(ns.stateValue(forKey: "s")?.intValue, 2)
        guard case .object(let rec) = items[3] else { return XCTFail() }
        XCTAssertEqual(rec.qualifiedName, "ultralytics.nn.tasks.DetectionModel")
        guard case .object(let device) = items[4] else { return XCTFail() }
        XCTAssertEqual(device.qualifiedName, "torch.device")
        XCTAssertEqual(device.args.first?.stringValue, "cuda")
        guard case .object(let scalar) = items[5], case .object(let dtype)? = scalar.args.first else { return XCTFail() }
        XCTAssertEqual(scalar.name, "scalar")
        XCTAssertEqual(dtype.state?.items?.first?.intValue, 3)
        guard case .global(let m, let n) = items[6] else { return XCTFail() }
        XCTAssertEqual(m + "." + n, "torch.float16")
        guard case .tuple(let size) = items[7] else { return XCTFail("torch.Size is not a tuple") }
        XCTAssertEqual(size.compactMap(\.intValue), [2, 3])
    }

    func testTensorRebuild() throws {
        var p = PickleBuilder()
        p.proto()
        p.mark()
        p.tensor(storageClass: "HalfStorage", key: "7", numel: 24, offset: 2, size: [2, 3, 2], stride: [1, 4, 12])
        p.put(0)
        // _rebuild_parameter(tensor, requires_grad, hooks)
        p.global("torch._utils", "_rebuild_parameter")
        p.get(0)
        p.bool(true)
        p.global("collections", "OrderedDict")
        p.emptyTuple()
        p.reduce()
        p.tuple3()
        p.reduce()
        // a 0-d tensor and an empty tensor at the very end of its storage
        p.tensor(storageClass: "LongStorage", key: "8", numel: 1, size: [], stride: [])
        p.tensor(storageClass: "BFloat16Storage", key: "9", numel: 4, offset: 4, size: [0, 3], stride: [3, 1])
        p.tuple()
        p.stop()
        let result = try Unpickler.unpickle(p.bytes, path: "t.pkl")
        XCTAssertEqual(result.tensors.count, 3)
        guard let items = result.root.items, case .tensor(let t) = items[0], case .tensor(let param) = items[1],
              case .tensor(let scalar) = items[2], case .tensor(let empty) = items[3] else { return XCTFail() }
        XCTAssertEqual(t.storageKey, "7")
        XCTAssertEqual(t.dtype, .float16)
        XCTAssertEqual(t.shape, [2, 3, 2])
        XCTAssertEqual(t.strides, [1, 4, 12])
        XCTAssertEqual(t.storageOffset, 2)
        XCTAssertEqual(t.count, 12)
        XCTAssertEqual(t.storageCount, 24)
        XCTAssertFalse(t.isContiguous)
        XCTAssertEqual(param.shape, t.shape)
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.count, 1)
        XCTAssertEqual(scalar.dtype, .int64)
        XCTAssertEqual(empty.count, 0)
        XCTAssertEqual(empty.dtype, .bfloat16)
    }

    // MARK: - Hostile input

    func testRefusesToCallAnythingElse() {
        for (module, name) in [("os", "system"), ("builtins", "eval"), ("__builtin__", "exec"), ("posix", "system"),
                               ("subprocess", "Popen"), ("torch", "load"), ("ultralytics.utils", "checks")] {
            var p = PickleBuilder()
            p.proto()
            p.global(module, name)
            p.string("echo pwned")
            p.tuple1()
            p.reduce()
            p.stop()
            let canonical = module == "__builtin__" ? "builtins" : module
            assertLoadError(["refusing to call \(canonical).\(name): not on the allow-list"]) { _ = try self.load(p.bytes) }
            // The same through STACK_GLOBAL.
            var q = PickleBuilder()
            q.proto(4)
            q.shortString(module)
            q.shortString(name)
            q.op(0x93)
            q.string("x")
            q.tuple1()
            q.reduce()
            q.stop()
            assertLoadError(["refusing to call", name]) { _ = try self.load(q.bytes) }
        }
        // NEWOBJ of a class that is not a module / inert value class.
        var p = PickleBuilder()
        p.proto()
        p.global("subprocess", "Popen")
        p.emptyTuple()
        p.newObj()
        p.stop()
        assertLoadError(["refusing to construct subprocess.Popen"]) { _ = try self.load(p.bytes) }
        // REDUCE of something that is not a name (e.g. the result of another REDUCE).
        var r = PickleBuilder()
        r.proto()
        r.string("os.system")
        r.emptyTuple()
        r.reduce()
        r.stop()
        assertLoadError(["REDUCE of a string"]) { _ = try self.load(r.bytes) }
        // copyreg._reconstructor of a non-allowed class.
        var c = PickleBuilder()
        c.proto()
        c.global("copyreg", "_reconstructor")
        c.global("os", "system")
        c.global("builtins", "object")
        c.none()
        c.tuple3()
        c.reduce()
        c.stop()
        assertLoadError(["refusing to construct os.system"]) { _ = try self.load(c.bytes) }
        // A plain GLOBAL of os.system is only a name.
        var g = PickleBuilder()
        g.proto()
        g.global("os", "system")
        g.stop()
        guard case .global("os", "system")? = try? load(g.bytes) else { return XCTFail("a bare GLOBAL should be a name") }
    }

    func testUnsupportedOpcodes() {
        for (code, name) in [(UInt8(0xFF), "unknown opcode"), (0x69, "INST"), (0x6F, "OBJ"), (0x82, "EXT1"), (0x83, "EXT2"),
                             (0x84, "EXT4"), (0x50, "PERSID"), (0x53, "STRING"), (0x97, "NEXT_BUFFER"), (0x98, "READONLY_BUFFER"), (0x00, "unknown")] {
            var p = PickleBuilder()
            p.proto()
            p.op(code, [0x30, 0x0A, 0x30, 0x0A])
            p.stop()
            let hex = "0x" + (code < 16 ? "0" : "") + String(code, radix: 16, uppercase: true)
            assertLoadError(["unsupported pickle opcode \(hex)", "at offset 2", name]) { _ = try self.load(p.bytes) }
        }
        assertLoadError(["unsupported pickle protocol 6"]) { _ = try self.load([0x80, 6, 0x4E, 0x2E]) }
    }

    func testMemoStackAndStopErrors() {
        assertLoadError(["memo key 5 is not defined"]) { _ = try self.load([0x80, 2, 0x68, 5, 0x2E]) }
        assertLoadError(["memo key 9 is not defined"]) { _ = try self.load([0x80, 2, 0x6A, 9, 0, 0, 0, 0x2E]) }
        assertLoadError(["STOP with an empty stack"]) { _ = try self.load([0x80, 2, 0x2E]) }
        assertLoadError(["STOP with 1 unclosed MARK"]) { _ = try self.load([0x80, 2, 0x28, 0x4E, 0x2E]) }
        assertLoadError(["STOP with 2 values"]) { _ = try self.load([0x80, 2, 0x4E, 0x4E, 0x2E]) }
        assertLoadError(["stack underflow"]) { _ = try self.load([0x80, 2, 0x61, 0x2E]) }
        assertLoadError(["stack underflow"]) { _ = try self.load([0x80, 2, 0x4E, 0x28, 0x85, 0x2E]) }   // TUPLE1 across a MARK
        assertLoadError(["stack underflow"]) { _ = try self.load([0x80, 2, 0x71, 0, 0x2E]) }             // BINPUT on empty stack
        assertLoadError(["no MARK"]) { _ = try self.load([0x80, 2, 0x74, 0x2E]) }
        assertLoadError(["APPEND to a tuple"]) { _ = try self.load([0x80, 2, 0x29, 0x4E, 0x61, 0x2E]) }
        assertLoadError(["SETITEM on a list"]) { _ = try self.load([0x80, 2, 0x5D, 0x4E, 0x4E, 0x73, 0x2E]) }
        assertLoadError(["BUILD on an int"]) { _ = try self.load([0x80, 2, 0x4B, 1, 0x7D, 0x62, 0x2E]) }
        assertLoadError(["odd number"]) { _ = try self.load([0x80, 2, 0x28, 0x4E, 0x64, 0x2E]) }
        // Small limits are enforced.
        var limits = Unpickler.Limits()
        limits.maxMemo = 3
        var p = PickleBuilder()
        p.proto()
        p.none()
        for i in 0..<5 { p.put(i) }
        p.stop()
        assertLoadError(["memo larger than 3"]) { _ = try Unpickler.load(p.bytes, limits: limits) }
        limits = Unpickler.Limits()
        limits.maxStack = 10
        assertLoadError(["stack larger than 10"]) { _ = try Unpickler.load([0x80, 2] + [UInt8](repeating: 0x4E, count: 20) + [0x2E], limits: limits) }
        // Unreachable containers count too (EMPTY_LIST, POP, …).
        limits = Unpickler.Limits()
        limits.maxNodes = 100
        var churn: [UInt8] = [0x80, 2]
        for _ in 0..<200 { churn += [0x5D, 0x30] }
        assertLoadError(["more than 100 containers"]) { _ = try Unpickler.load(churn + [0x4E, 0x2E], limits: limits) }
    }

    func testHugeDeclaredLengths() {
        assertLoadError(["truncated pickle at offset 2", "BINUNICODE declares 4294967295 bytes"]) {
            _ = try self.load([0x80, 2, 0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0x41, 0x2E])
        }
        assertLoadError(["truncated pickle at offset 2", "BINUNICODE8"]) {
            _ = try self.load([0x80, 4, 0x8D] + PickleBuilder.le(UInt64.max) + [0x2E])
        }
        assertLoadError(["truncated pickle", "BINBYTES8"]) { _ = try self.load([0x80, 4, 0x8E] + PickleBuilder.le(UInt64(1) << 62) + [0x2E]) }
        assertLoadError(["truncated pickle", "BYTEARRAY8"]) { _ = try self.load([0x80, 5, 0x96] + PickleBuilder.le(UInt64(1) << 40) + [0x2E]) }
        assertLoadError(["truncated pickle", "FRAME"]) { _ = try self.load([0x80, 4, 0x95] + PickleBuilder.le(UInt64(1) << 60) + [0x4E, 0x2E]) }
        assertLoadError(["BINSTRING with negative length"]) { _ = try self.load([0x80, 2, 0x54, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E]) }
        assertLoadError(["LONG4 with negative length"]) { _ = try self.load([0x80, 2, 0x8B, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E]) }
        assertLoadError(["truncated pickle", "LONG4"]) { _ = try self.load([0x80, 2, 0x8B, 0xFF, 0xFF, 0xFF, 0x7F, 0x2E]) }
        // A text line without its newline.
        assertLoadError(["truncated pickle at offset 0"]) { _ = try self.load(Array("cos\nsystem".utf8)) }
    }

    func testDeepNestingIsAnErrorNotACrash() {
        let n = 100_000
        // 100k EMPTY_LISTs then 100k-1 APPENDs: [[[[…]]]] 100k deep.
        var lists: [UInt8] = [0x80, 2] + [UInt8](repeating: 0x5D, count: n) + [UInt8](repeating: 0x61, count: n - 1) + [0x2E]
        assertLoadError(["nested deeper than 500 levels"]) { _ = try self.load(lists) }
        // 100k MARKs.
        lists = [0x80, 2] + [UInt8](repeating: 0x28, count: n) + [0x2E]
        assertLoadError(["nested deeper than 1000 MARKs"]) { _ = try self.load(lists) }
        // ((((None,),),),) 100k deep with a stack of one element.
        let tuples: [UInt8] = [0x80, 2, 0x4E] + [UInt8](repeating: 0x85, count: n) + [0x2E]
        assertLoadError(["nested deeper than 500 levels"]) { _ = try self.load(tuples) }
        // 100k nested dicts built through the memo with a stack of at most 3 values:
        // d0 = {}; d1 = {}; d0['k'] = d1; d2 = {}; d1['k'] = d2; …
        var memoChain = PickleBuilder()
        memoChain.proto()
        memoChain.emptyDict()
        memoChain.op(0x94)                // MEMOIZE: memo[0] = d0
        for i in 0..<n {
            memoChain.string("k")
            memoChain.emptyDict()
            memoChain.op(0x94)            // MEMOIZE: memo[i + 1] = d(i+1)
            memoChain.setItem()           // d(i)['k'] = d(i+1)
            memoChain.op(0x30)            // POP d(i)
            memoChain.get(i + 1)          // continue with d(i+1)
        }
        memoChain.op(0x30)
        memoChain.get(0)
        memoChain.stop()
        assertLoadError(["nested deeper than 500 levels"]) { _ = try self.load(memoChain.bytes) }
        // Exactly at the limit is fine: a root list and 499 nested lists below it.
        var ok: [UInt8] = [0x80, 2] + [UInt8](repeating: 0x5D, count: 500) + [UInt8](repeating: 0x61, count: 499) + [0x2E]
        XCTAssertNoThrow(try load(ok))
        ok = [0x80, 2] + [UInt8](repeating: 0x5D, count: 501) + [UInt8](repeating: 0x61, count: 500) + [0x2E]
        assertLoadError(["nested deeper than 500 levels"]) { _ = try self.load(ok) }
    }

    func testRecursiveAndSharedStructures() throws {
        // l = []; l.append(l)
        assertLoadError(["recursive structure"]) { _ = try self.load([0x80, 2, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x2E]) }
        // Billion laughs: l0 = [1]; l_{i+1} = [l_i] * 2 … 60 levels: 2^60 leaves, but built and converted once each.
        var p = PickleBuilder()
        p.proto()
        p.emptyList()
        p.int(1)
        p.append()
        p.put(0)
        p.op(0x30) // POP
        for i in 1...60 {
            p.mark()
            p.get(i - 1)
            p.get(i - 1)
            p.op(0x6C) // LIST
            p.put(i)
            p.op(0x30) // POP
        }
        p.get(60)
        p.stop()
        let start = Date()
        let v = try load(p.bytes)
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        var node = v
        for _ in 0..<60 { node = node.items![1] }
        XCTAssertEqual(node.items?.first?.intValue, 1)
        // The same shared subtree at a depth that would overflow the limit through the memo is caught.
        var deep = PickleBuilder()
        deep.proto()
        // 300 nested lists memoized as 1, used twice at shallow depth.
        deep.bytes += [UInt8](repeating: 0x5D, count: 300) + [UInt8](repeating: 0x61, count: 299)
        deep.put(1)
        deep.op(0x30)
        deep.get(1)
        deep.op(0x85)  // (inner,) — 302 levels: fine
        deep.get(1)
        deep.op(0x86)
        deep.stop()
        XCTAssertNoThrow(try load(deep.bytes))
        var deeper = PickleBuilder()
        deeper.proto()
        deeper.bytes += [UInt8](repeating: 0x5D, count: 300) + [UInt8](repeating: 0x61, count: 299)
        deeper.put(1)
        deeper.op(0x30)
        deeper.get(1)                       // converted first at depth 1 …
        deeper.bytes += [UInt8](repeating: 0x5D, count: 250)
        deeper.get(1)
        deeper.bytes += [UInt8](repeating: 0x61, count: 250)   // … then reached again 251 levels down (551 > 500)
        deeper.op(0x86)
        deeper.stop()
        assertLoadError(["nested deeper than 500 levels"]) { _ = try self.load(deeper.bytes) }
    }

    func testStorageAndTensorValidation() {
        // size × stride beyond the storage
        assertLoadError(["reach element 13", "storage has 12 elements"]) {
            _ = try self.load(PickleBuilder.tensorPickle(numel: 12, size: [3, 4], stride: [5, 1]))
        }
        assertLoadError(["reach element 12"]) { _ = try self.load(PickleBuilder.tensorPickle(numel: 12, offset: 1, size: [3, 4], stride: [4, 1])) }
        assertLoadError(["negative size"]) { _ = try self.load(PickleBuilder.tensorPickle(numel: 12, size: [-1, 4], stride: [4, 1])) }
        assertLoadError(["negative stride"]) { _ = try self.load(PickleBuilder.tensorPickle(numel: 12, size: [3, 4], stride: [-4, 1])) }
        assertLoadError(["negative storage offset"]) { _ = try self.load(PickleBuilder.tensorPickle(numel: 12, offset: -1, size: [1], stride: [1])) }
        assertLoadError(["rank 9"]) { _ = try self.load(PickleBuilder.tensorPickle(numel: 1, size: Array(repeating: 1, count: 9), stride: Array(repeating: 1, count: 9))) }
        assertLoadError(["element count overflows"]) {
            _ = try self.load(PickleBuilder.tensorPickle(numel: 12, size: [1 << 40, 1 << 40], stride: [0, 0]))
        }
        assertLoadError(["overflow"]) { _ = try self.load(PickleBuilder.tensorPickle(numel: 12, size: [1 << 62, 2], stride: [1 << 62, 1])) }
        assertLoadError(["overflow"]) { _ = try self.load(PickleBuilder.tensorPickle(numel: 12, offset: Int.max, size: [2], stride: [1])) }
        assertLoadError(["2 sizes but 1 strides"]) { _ = try self.load(PickleBuilder.tensorPickle(numel: 12, size: [3, 4], stride: [1])) }
        assertLoadError(["invalid element count"]) { _ = try self.load(PickleBuilder.tensorPickle(numel: -5, size: [1], stride: [1])) }
        assertLoadError(["unsupported storage type"]) {
            _ = try self.load(PickleBuilder.tensorPickle(storageClass: "ComplexFloatStorage", numel: 1, size: [1], stride: [1]))
        }
        assertLoadError(["invalid storage key"]) { _ = try self.load(PickleBuilder.tensorPickle(key: "../../etc/passwd", numel: 1, size: [1], stride: [1])) }
        assertLoadError(["invalid storage key"]) { _ = try self.load(PickleBuilder.tensorPickle(key: "", numel: 1, size: [1], stride: [1])) }
        // A persistent id that is not a storage tuple.
        assertLoadError(["unsupported persistent id"]) { _ = try self.load([0x80, 2, 0x58, 1, 0, 0, 0, 0x41, 0x51, 0x2E]) }
        // The same storage key declared with two dtypes.
        var p = PickleBuilder()
        p.proto()
        p.tensor(storageClass: "FloatStorage", key: "0", numel: 4, size: [4], stride: [1])
        p.tensor(storageClass: "HalfStorage", key: "0", numel: 4, size: [4], stride: [1])
        p.tuple2()
        p.stop()
        assertLoadError(["declared twice"]) { _ = try self.load(p.bytes) }
        // _rebuild_tensor_v2 with the wrong arguments.
        var q = PickleBuilder()
        q.proto()
        q.global("torch._utils", "_rebuild_tensor_v2")
        q.int(1)
        q.tuple1()
        q.reduce()
        q.stop()
        assertLoadError(["expects 6 or 7 arguments"]) { _ = try self.load(q.bytes) }
    }

    /// Random byte mutations of real pickles: each one loads or throws a ModelLoadError, never crashes.
    func testMutatedPicklesNeverCrash() throws {
        let iterations = Int(ProcessInfo.processInfo.environment["PICKLE_FUZZ_ITERATIONS"] ?? "") ?? 3000
        let seeds: [[UInt8]] = [
            try TorchCheckpointTests.entryBytes(TestPaths.fixture("pickle/tiny_checkpoint.pt"), "tiny_checkpoint/data.pkl"),
            handBuiltEverything(),
        ]
        var rng = SeededRandom(seed: 2024)
        var loaded = 0
        for i in 0..<iterations {
            var bytes = seeds[i % seeds.count]
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes[at] ^= UInt8(1 << (rng.next() % 8))
                case 2: bytes.remove(at: at)
                default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                }
                if bytes.isEmpty { bytes = [0x2E] }
            }
            do {
                _ = try Unpickler.unpickle(bytes, path: "fuzz.pkl")
                loaded += 1
            } catch is ModelLoadError {
            } catch {
                XCTFail("mutation \(i) threw a non-ModelLoadError: \(error)")
            }
        }
        XCTAssertLessThan(loaded, iterations)
    }

    /// Loading hostile deep input and the deepest allowed value (and freeing it) fits in a 512 KB thread stack
    /// (the size of secondary threads on Apple platforms).
    func testDeepInputOnASmallThreadStack() {
        final class Failures: @unchecked Sendable { var list: [String] = [] }  // written by the thread, read after done
        let done = DispatchSemaphore(value: 0)
        let failures = Failures()
        let thread = Thread {
            let deepest: [UInt8] = [0x80, 2] + [UInt8](repeating: 0x5D, count: 500) + [UInt8](repeating: 0x61, count: 499) + [0x2E]
            if (try? Unpickler.load(deepest)) == nil { failures.list.append("the deepest allowed value did not load") }
            let hostile: [UInt8] = [0x80, 2, 0x4E] + [UInt8](repeating: 0x85, count: 100_000) + [0x2E]
            if (try? Unpickler.load(hostile)) != nil { failures.list.append("100k nested tuples loaded") }
            done.signal()
        }
        thread.stackSize = 512 * 1024
        thread.start()
        done.wait()
        XCTAssertEqual(failures.list, [])
    }
}
