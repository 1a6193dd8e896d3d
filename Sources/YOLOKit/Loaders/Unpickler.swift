import Foundation

/// A restricted Python pickle reader (protocols 0–5 as far as `torch.save` uses them) that never runs code.
///
/// Threat model: `.pt` files come from strangers. Python's `pickle` resolves every GLOBAL and calls every REDUCE;
/// this reader does neither:
/// * GLOBAL / STACK_GLOBAL only produce a name (`PickleValue.global`).
/// * REDUCE / NEWOBJ / NEWOBJ_EX are interpreted only for the callables in `Unpickler.allowList` (one table
///   below) and for NEWOBJ of `torch.nn.*` / `ultralytics.*` classes, which become inert `PickleObject`s.
///   Anything else fails with "refusing to call <module>.<name>: not on the allow-list".
/// * BINPERSID only accepts torch storage references; tensors are validated against the declared storage size.
/// * Every read is bounds-checked ("truncated pickle at offset N"), memo/stack/mark/nesting sizes are bounded,
///   nothing recurses on input-controlled depth without a bound, cycles are rejected, and the final value tree
///   is at most `Limits.maxNesting` deep (so building, walking and freeing it cannot overflow the stack).
struct Unpickler {
    struct Limits {
        /// Maximum nesting of containers/objects in the result. Ultralytics checkpoints nest about 25 deep; 500 keeps
        /// the recursive release of the finished tree (and recursive walks by callers) well inside a 512 KB
        /// thread stack.
        var maxNesting = 500
        /// Maximum number of open MARKs.
        var maxMarks = 1000
        /// Maximum number of values on the VM stack at once.
        var maxStack = 1 << 20
        /// Maximum number of memo entries.
        var maxMemo = 1 << 20
        /// Maximum number of containers/objects built (reachable or not). The YOLOv8s checkpoint builds ~11 000.
        var maxNodes = 1 << 22
    }

    struct Result {
        let root: PickleValue
        /// Every tensor the pickle built (reachable from `root` or not), in creation order.
        let tensors: [TorchTensor]
        /// Offset just past the STOP opcode (bytes after it are not part of the pickle).
        var end: Int = 0
    }

    // MARK: - The allow-list (the only callables whose REDUCE / NEWOBJ is interpreted)

    enum Callable {
        case rebuildTensorV2            // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) -> tensor
        case rebuildParameter           // torch._utils._rebuild_parameter(tensor, requires_grad, hooks) -> tensor
        case rebuildParameterWithState  // torch._utils._rebuild_parameter_with_state(tensor, requires_grad, hooks, state) -> tensor
        case orderedDict                // collections.OrderedDict() / OrderedDict([(k, v), ...]) -> dict
        case set                        // set() / set(iterable) -> list
        case frozenset                  // frozenset() / frozenset(iterable) -> list
        case torchSize                  // torch.Size((d0, d1, ...)) -> tuple
        case reconstructor              // copyreg._reconstructor(cls, base, state) -> object of cls (protocol 0/1 objects)
        case inertObject                // an opaque PickleObject holding the arguments (plain data holders)
    }

    /// `module.name` → how REDUCE/NEWOBJ of it is interpreted. Module names are canonicalized first
    /// (`__builtin__` → `builtins`, `copy_reg` → `copyreg`). Plus: NEWOBJ (not REDUCE) of any class in a module
    /// starting with `torch.nn.` or `ultralytics.` makes an inert object (see `isModuleClass`).
    static let allowList: [String: Callable] = [
        "torch._utils._rebuild_tensor_v2": .rebuildTensorV2,
        "torch._utils._rebuild_parameter": .rebuildParameter,
        "torch._utils._rebuild_parameter_with_state": .rebuildParameterWithState,
        "collections.OrderedDict": .orderedDict,
        "builtins.set": .set,
        "builtins.frozenset": .frozenset,
        "torch.Size": .torchSize,
        "copyreg._reconstructor": .reconstructor,
        // Inert values Ultralytics checkpoints may hold (training args, metrics, paths, devices):
        "numpy.core.multiarray.scalar": .inertObject,
        "numpy._core.multiarray.scalar": .inertObject,
        "numpy.core.multiarray._reconstruct": .inertObject,
        "numpy._core.multiarray._reconstruct": .inertObject,
        "numpy.dtype": .inertObject,
        "torch.device": .inertObject,
        "pathlib.Path": .inertObject,
        "pathlib.PosixPath": .inertObject,
        "pathlib.WindowsPath": .inertObject,
        "argparse.Namespace": .inertObject,
        "types.SimpleNamespace": .inertObject,
        "ultralytics.utils.IterableSimpleNamespace": .inertObject,
    ]

    /// Classes whose NEWOBJ makes an inert object: PyTorch and Ultralytics modules.
    static func isModuleClass(module: String) -> Bool {
        module.hasPrefix("torch.nn.") || module.hasPrefix("ultralytics.")
    }

    static func canonicalModule(_ module: String) -> String {
        switch module {
        case "__builtin__": return "builtins"
        case "copy_reg": return "copyreg"
        default: return module
        }
    }

    // MARK: - Entry point

    static func unpickle(_ bytes: [UInt8], path: String, limits: Limits = Limits()) throws -> Result {
        let vm = Machine(bytes: bytes, path: path, limits: limits)
        defer { vm.tearDown() }
        let top = try vm.run()
        var converter = Converter(path: path, maxNesting: limits.maxNesting)
        defer { converter.cache.removeAll() }
        let root = try converter.convert(top)
        return Result(root: root, tensors: vm.tensors, end: vm.pos)
    }

    /// Convenience for tests and tools: just the value.
    static func load(_ bytes: [UInt8], path: String = "<pickle>", limits: Limits = Limits()) throws -> PickleValue {
        try unpickle(bytes, path: path, limits: limits).root
    }
}

// MARK: - VM values

extension Unpickler {
    /// A reference to a torch storage from BINPERSID.
    struct StorageRef {
        let key: String
        let dtype: TorchDType
        let className: String
        let location: String
        let count: Int
    }

    /// A value on the VM stack / in the memo. Compound values are `Node` references, so that memo sharing and
    /// in-place mutation (APPEND/SETITEM/BUILD after BINPUT) behave like Python; no case nests another `Item`
    /// directly, so no Swift recursion happens when items are copied or freed.
    enum Item {
        case none
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
        case bytes([UInt8])
        case global(module: String, name: String)
        case node(Node)
        case tensor(TorchTensor)
        case storage(StorageRef)

        var kindDescription: String {
            switch self {
            case .none: return "None"
            case .bool: return "a bool"
            case .int: return "an int"
            case .float: return "a float"
            case .string: return "a string"
            case .bytes: return "bytes"
            case .global(let m, let n): return "the name \(m).\(n)"
            case .node(let node): return node.kindDescription
            case .tensor: return "a tensor"
            case .storage: return "a storage"
            }
        }
    }

    /// Keys for Python-like dict/set de-duplication of scalar keys (`1 == True == 1.0`).
    enum ScalarKey: Hashable {
        case none
        case int(Int)
        case float(Double)
        case string(String)
        case bytes([UInt8])

        init?(_ item: Item) {
            switch item {
            case .none: self = .none
            case .bool(let b): self = .int(b ? 1 : 0)
            case .int(let i): self = .int(i)
            case .float(let d):
                if d.rounded() == d, abs(d) < 9.0e18 { self = .int(Int(d)) } else { self = .float(d) }
            case .string(let s): self = .string(s)
            case .bytes(let b): self = .bytes(b)
            default: return nil
            }
        }
    }

    final class Node {
        enum Kind { case tuple, list, dict, set, object }
        let kind: Kind
        /// tuple/list/set elements; object: APPEND(S) items.
        var elements: [Item] = []
        /// dict entries; object: SETITEM(S) items.
        var entries: [(key: Item, value: Item)] = []
        var index: [ScalarKey: Int] = [:]
        /// Object-only fields, allocated on first use (keeps the many container nodes small).
        private var info: ObjectInfo?

        final class ObjectInfo {
            var module = ""
            var name = ""
            var args: [Item] = []
            var kwargs: [(key: Item, value: Item)] = []
            var state: Item?
        }

        private var objectInfo: ObjectInfo {
            if let info { return info }
            let created = ObjectInfo()
            info = created
            return created
        }

        var module: String {
            get { info?.module ?? "" }
            set { objectInfo.module = newValue }
        }
        var name: String {
            get { info?.name ?? "" }
            set { objectInfo.name = newValue }
        }
        var args: [Item] {
            get { info?.args ?? [] }
            set { objectInfo.args = newValue }
        }
        var kwargs: [(key: Item, value: Item)] {
            get { info?.kwargs ?? [] }
            set { objectInfo.kwargs = newValue }
        }
        var state: Item? {
            get { info?.state }
            set { objectInfo.state = newValue }
        }

        init(_ kind: Kind) { self.kind = kind }

        var kindDescription: String {
            switch kind {
            case .tuple: return "a tuple"
            case .list: return "a list"
            case .dict: return "a dict"
            case .set: return "a set"
            case .object: return "a \(module).\(name) object"
            }
        }

        func setItem(_ key: Item, _ value: Item) {
            if let k = ScalarKey(key) {
                if let i = index[k] { entries[i].value = value; return }
                index[k] = entries.count
            }
            entries.append((key, value))
        }

        func addToSet(_ item: Item) {
            if let k = ScalarKey(item) {
                if index[k] != nil { return }
                index[k] = elements.count
            }
            elements.append(item)
        }

        /// Drops every reference this node holds (so freeing a deep graph never recurses).
        func clear() {
            elements = []
            entries = []
            index = [:]
            if let info {
                info.args = []
                info.kwargs = []
                info.state = nil
            }
        }
    }
}

// MARK: - The machine

extension Unpickler {
    private static let opcodeNames: [UInt8: String] = [
        0x28: "MARK", 0x2E: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT",
        0x4A: "BININT", 0x4B: "BININT1", 0x4C: "LONG", 0x4D: "BININT2", 0x4E: "NONE", 0x50: "PERSID",
        0x51: "BINPERSID", 0x52: "REDUCE", 0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING",
        0x56: "UNICODE", 0x58: "BINUNICODE", 0x61: "APPEND", 0x62: "BUILD", 0x63: "GLOBAL", 0x64: "DICT",
        0x7D: "EMPTY_DICT", 0x65: "APPENDS", 0x67: "GET", 0x68: "BINGET", 0x69: "INST", 0x6A: "LONG_BINGET",
        0x6C: "LIST", 0x5D: "EMPTY_LIST", 0x6F: "OBJ", 0x70: "PUT", 0x71: "BINPUT", 0x72: "LONG_BINPUT",
        0x73: "SETITEM", 0x74: "TUPLE", 0x29: "EMPTY_TUPLE", 0x75: "SETITEMS", 0x47: "BINFLOAT",
        0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1", 0x86: "TUPLE2",
        0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8A: "LONG1", 0x8B: "LONG4", 0x42: "BINBYTES",
        0x43: "SHORT_BINBYTES", 0x8C: "SHORT_BINUNICODE", 0x8D: "BINUNICODE8", 0x8E: "BINBYTES8",
        0x8F: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL",
        0x94: "MEMOIZE", 0x95: "FRAME", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
    ]

    static func describeOpcode(_ op: UInt8) -> String {
        let hex = "0x" + String(op, radix: 16, uppercase: true).leftPadded(to: 2)
        var text = hex
        if op >= 0x20 && op < 0x7F { text += " '\(Character(Unicode.Scalar(op)))'" }
        if let name = opcodeNames[op] { text += " \(name)" }
        return text
    }

    final class Machine {
        let bytes: [UInt8]
        let path: String
        let limits: Limits
        var pos = 0
        var opStart = 0
        var stack: [Item] = []
        var marks: [Int] = []
        var memo: [Int: Item] = [:]
        var arena: [Node] = []
        var tensors: [TorchTensor] = []
        var storages: [String: StorageRef] = [:]

        init(bytes: [UInt8], path: String, limits: Limits) {
            self.bytes = bytes
            self.path = path
            self.limits = limits
        }

        func tearDown() {
            for node in arena { node.clear() }
            stack = []
            memo = [:]
            arena = []
        }

        // MARK: errors

        func error(_ message: String) -> ModelLoadError {
            ModelLoadError(path: path, reason: "\(message) at pickle offset \(opStart)")
        }

        func truncated() -> ModelLoadError {
            ModelLoadError(path: path, reason: "truncated pickle at offset \(opStart)")
        }

        // MARK: reading

        var remaining: Int { bytes.count - pos }

        func readByte() throws -> UInt8 {
            guard pos < bytes.count else { throw truncated() }
            defer { pos += 1 }
            return bytes[pos]
        }

        func readLE(_ n: Int) throws -> UInt64 {
            guard n <= remaining else { throw truncated() }
            var v: UInt64 = 0
            for i in 0..<n { v |= UInt64(bytes[pos + i]) << (8 * UInt64(i)) }
            pos += n
            return v
        }

        /// Checks a declared length against the input left and returns it as Int.
        func checkedLength(_ n: UInt64, what: String) throws -> Int {
            guard n <= UInt64(remaining) else {
                throw ModelLoadError(path: path, reason: "truncated pickle at offset \(opStart): \(what) declares \(n) bytes, only \(remaining) left")
            }
            return Int(n)
        }

        func readBytes(_ n: Int) -> [UInt8] {
            defer { pos += n }
            return Array(bytes[pos..<(pos + n)])
        }

        /// A text line (protocol 0 arguments), without its "\n".
        func readLine() throws -> String {
            let limit = min(bytes.count, pos + 65_536)
            var end = pos
            while end < limit && bytes[end] != 0x0A { end += 1 }
            guard end < bytes.count else { throw truncated() }
            guard end < limit else { throw error("text argument longer than 65536 bytes") }
            let line = String(decoding: bytes[pos..<end], as: UTF8.self)
            pos = end + 1
            return line
        }

        /// Python's raw-unicode-escape: bytes are Latin-1 except `\uXXXX` and `\UXXXXXXXX` escapes.
        /// Reads the text line of a UNICODE opcode and decodes it from the raw bytes.
        func readRawUnicodeEscapeLine() throws -> String {
            _ = try readLine()
            let start = opStart + 1
            let end = pos - 1
            var out = String.UnicodeScalarView()
            var i = start
            func hex(_ n: Int) throws -> UInt32 {
                guard i + n <= end else { throw error("invalid \\u escape in UNICODE") }
                var v: UInt32 = 0
                for k in 0..<n {
                    let c = bytes[i + k]
                    let d: UInt32
                    switch c {
                    case 0x30...0x39: d = UInt32(c - 0x30)
                    case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                    case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                    default: throw error("invalid \\u escape in UNICODE")
                    }
                    v = v << 4 | d
                }
                i += n
                return v
            }
            while i < end {
                let b = bytes[i]
                if b == 0x5C, i + 1 < end, bytes[i + 1] == 0x75 || bytes[i + 1] == 0x55 {
                    let n = bytes[i + 1] == 0x75 ? 4 : 8
                    i += 2
                    let v = try hex(n)
                    out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
                } else {
                    out.append(Unicode.Scalar(b))
                    i += 1
                }
            }
            return String(out)
        }

        func decodeString(_ raw: [UInt8]) -> String {
            String(decoding: raw, as: UTF8.self)
        }

        // MARK: stack

        var fence: Int { marks.last ?? 0 }

        func push(_ item: Item) throws {
            guard stack.count < limits.maxStack else { throw error("pickle stack larger than \(limits.maxStack) values") }
            stack.append(item)
        }

        func pop() throws -> Item {
            guard stack.count > fence else { throw error("pickle stack underflow") }
            return stack.removeLast()
        }

        func top() throws -> Item {
            guard stack.count > fence else { throw error("pickle stack underflow") }
            return stack[stack.count - 1]
        }

        func popMark() throws -> [Item] {
            guard let mark = marks.popLast() else { throw error("no MARK on the pickle stack") }
            let items = Array(stack[mark...])
            stack.removeSubrange(mark...)
            return items
        }

        func newNode(_ kind: Node.Kind) throws -> Node {
            guard arena.count < limits.maxNodes else { throw error("pickle builds more than \(limits.maxNodes) containers") }
            let node = Node(kind)
            arena.append(node)
            return node
        }

        func memoPut(_ index: Int) throws {
            let value = try top()
            if memo[index] == nil && memo.count >= limits.maxMemo {
                throw error("pickle memo larger than \(limits.maxMemo) entries")
            }
            memo[index] = value
        }

        func memoGet(_ index: Int) throws {
            guard let value = memo[index] else { throw error("memo key \(index) is not defined") }
            try push(value)
        }

        func pushInt(fromLittleEndian raw: [UInt8]) throws {
            if raw.isEmpty { try push(.int(0)); return }
            let negative = raw[raw.count - 1] & 0x80 != 0
            var significant = raw.count
            // Drop sign-extension bytes beyond what an Int64 needs.
            while significant > 8 {
                let b = raw[significant - 1]
                let next = raw[significant - 2]
                if (b == 0x00 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0) { significant -= 1 } else { break }
            }
            if significant <= 8 {
                var v: UInt64 = negative ? ~0 : 0
                for i in 0..<significant {
                    v &= ~(UInt64(0xFF) << (8 * UInt64(i)))
                    v |= UInt64(raw[i]) << (8 * UInt64(i))
                }
                try push(.int(Int(Int64(bitPattern: v))))
                return
            }
            // Too large for 64 bits: keep an approximation (such ints only appear in metadata).
            var d = 0.0
            for b in raw.reversed() { d = d * 256 + Double(b) }
            if negative { d -= pow(2.0, Double(8 * raw.count)) }
            try push(.float(d))
        }

        func parseTextInt(_ line: String) throws -> Item {
            var text = line
            if text.hasSuffix("L") { text.removeLast() }
            if let v = Int(text) { return .int(v) }
            if let d = Double(text), d.isFinite, text.allSatisfy({ $0.isNumber || $0 == "-" || $0 == "+" }) { return .float(d) }
            throw error("invalid integer literal \"\(line.prefix(40))\"")
        }

        // MARK: run

        func run() throws -> Item {
            while true {
                opStart = pos
                guard pos < bytes.count else {
                    throw ModelLoadError(path: path, reason: "truncated pickle at offset \(pos) (no STOP opcode)")
                }
                let op = bytes[pos]
                pos += 1
                switch op {
                case 0x80: // PROTO
                    let v = try readByte()
                    guard v <= 5 else { throw error("unsupported pickle protocol \(v)") }
                case 0x95: // FRAME
                    let n = try readLE(8)
                    _ = try checkedLength(n, what: "FRAME")
                case 0x2E: // STOP
                    guard marks.isEmpty else { throw error("STOP with \(marks.count) unclosed MARK(s)") }
                    guard stack.count == 1 else {
                        throw error(stack.isEmpty ? "STOP with an empty stack" : "STOP with \(stack.count) values on the stack")
                    }
                    return stack[0]
                case 0x28: // MARK
                    guard marks.count < limits.maxMarks else { throw error("pickle nested deeper than \(limits.maxMarks) MARKs") }
                    marks.append(stack.count)
                case 0x30: // POP
                    if stack.count > fence { stack.removeLast() } else if let m = marks.last, m == stack.count { marks.removeLast() } else {
                        throw error("pickle stack underflow")
                    }
                case 0x31: // POP_MARK
                    _ = try popMark()
                case 0x32: // DUP
                    try push(try top())

                // Numbers
                case 0x4A: // BININT
                    try push(.int(Int(Int32(bitPattern: UInt32(try readLE(4))))))
                case 0x4B: // BININT1
                    try push(.int(Int(try readByte())))
                case 0x4D: // BININT2
                    try push(.int(Int(try readLE(2))))
                case 0x8A: // LONG1
                    let n = Int(try readByte())
                    guard n <= remaining else { throw truncated() }
                    try pushInt(fromLittleEndian: readBytes(n))
                case 0x8B: // LONG4
                    let n = Int32(bitPattern: UInt32(try readLE(4)))
                    guard n >= 0 else { throw error("LONG4 with negative length \(n)") }
                    let len = try checkedLength(UInt64(n), what: "LONG4")
                    guard len <= 4096 else { throw error("integer literal of \(len) bytes is too large") }
                    try pushInt(fromLittleEndian: readBytes(len))
                case 0x49: // INT (text)
                    let line = try readLine()
                    if line == "00" { try push(.bool(false)) } else if line == "01" { try push(.bool(true)) } else { try push(try parseTextInt(line)) }
                case 0x4C: // LONG (text)
                    try push(try parseTextInt(try readLine()))
                case 0x46: // FLOAT (text)
                    let line = try readLine()
                    guard let d = Double(line.trimmingCharacters(in: .whitespaces)) else { throw error("invalid float literal \"\(line.prefix(40))\"") }
                    try push(.float(d))
                case 0x47: // BINFLOAT (big-endian)
                    guard remaining >= 8 else { throw truncated() }
                    var v: UInt64 = 0
                    for i in 0..<8 { v = v << 8 | UInt64(bytes[pos + i]) }
                    pos += 8
                    try push(.float(Double(bitPattern: v)))
                case 0x4E: try push(.none)       // NONE
                case 0x88: try push(.bool(true))  // NEWTRUE
                case 0x89: try push(.bool(false)) // NEWFALSE

                // Strings and bytes
                case 0x58: // BINUNICODE
                    let n = try checkedLength(try readLE(4), what: "BINUNICODE")
                    try push(.string(decodeString(readBytes(n))))
                case 0x8C: // SHORT_BINUNICODE
                    let n = try checkedLength(UInt64(try readByte()), what: "SHORT_BINUNICODE")
                    try push(.string(decodeString(readBytes(n))))
                case 0x8D: // BINUNICODE8
                    let n = try checkedLength(try readLE(8), what: "BINUNICODE8")
                    try push(.string(decodeString(readBytes(n))))
                case 0x54: // BINSTRING
                    let n = Int32(bitPattern: UInt32(try readLE(4)))
                    guard n >= 0 else { throw error("BINSTRING with negative length \(n)") }
                    let len = try checkedLength(UInt64(n), what: "BINSTRING")
                    try push(.string(decodeString(readBytes(len))))
                case 0x55: // SHORT_BINSTRING
                    let n = try checkedLength(UInt64(try readByte()), what: "SHORT_BINSTRING")
                    try push(.string(decodeString(readBytes(n))))
                case 0x42: // BINBYTES
                    let n = try checkedLength(try readLE(4), what: "BINBYTES")
                    try push(.bytes(readBytes(n)))
                case 0x43: // SHORT_BINBYTES
                    let n = try checkedLength(UInt64(try readByte()), what: "SHORT_BINBYTES")
                    try push(.bytes(readBytes(n)))
                case 0x56: // UNICODE (protocol 0, raw-unicode-escape text line)
                    try push(.string(try readRawUnicodeEscapeLine()))
                case 0x8E, 0x96: // BINBYTES8, BYTEARRAY8
                    let n = try checkedLength(try readLE(8), what: op == 0x8E ? "BINBYTES8" : "BYTEARRAY8")
                    try push(.bytes(readBytes(n)))

                // Containers
                case 0x29: // EMPTY_TUPLE
                    try push(.node(try newNode(.tuple)))
                case 0x74: // TUPLE
                    let node = try newNode(.tuple)
                    node.elements = try popMark()
                    try push(.node(node))
                case 0x85, 0x86, 0x87: // TUPLE1/2/3
                    let n = Int(op - 0x84)
                    guard stack.count - fence >= n else { throw error("pickle stack underflow") }
                    let node = try newNode(.tuple)
                    node.elements = Array(stack[(stack.count - n)...])
                    stack.removeLast(n)
                    try push(.node(node))
                case 0x5D: // EMPTY_LIST
                    try push(.node(try newNode(.list)))
                case 0x6C: // LIST
                    let node = try newNode(.list)
                    node.elements = try popMark()
                    try push(.node(node))
                case 0x61: // APPEND
                    let value = try pop()
                    try append([value], to: try top())
                case 0x65: // APPENDS
                    let values = try popMark()
                    try append(values, to: try top())
                case 0x7D: // EMPTY_DICT
                    try push(.node(try newNode(.dict)))
                case 0x64: // DICT
                    let items = try popMark()
                    guard items.count % 2 == 0 else { throw error("DICT with an odd number of items") }
                    let node = try newNode(.dict)
                    for i in stride(from: 0, to: items.count, by: 2) { node.setItem(items[i], items[i + 1]) }
                    try push(.node(node))
                case 0x73: // SETITEM
                    let value = try pop()
                    let key = try pop()
                    try setItems([key, value], on: try top())
                case 0x75: // SETITEMS
                    let items = try popMark()
                    guard items.count % 2 == 0 else { throw error("SETITEMS with an odd number of items") }
                    try setItems(items, on: try top())
                case 0x8F: // EMPTY_SET
                    try push(.node(try newNode(.set)))
                case 0x90: // ADDITEMS
                    let items = try popMark()
                    guard case .node(let node) = try top(), node.kind == .set else {
                        throw error("ADDITEMS on \(try top().kindDescription)")
                    }
                    for item in items { node.addToSet(item) }
                case 0x91: // FROZENSET
                    let items = try popMark()
                    let node = try newNode(.set)
                    for item in items { node.addToSet(item) }
                    try push(.node(node))

                // Memo
                case 0x71: try memoPut(Int(try readByte()))            // BINPUT
                case 0x72: try memoPut(Int(try readLE(4)))             // LONG_BINPUT
                case 0x94: try memoPut(memo.count)                     // MEMOIZE
                case 0x70:                                             // PUT
                    let line = try readLine()
                    guard let i = Int(line), i >= 0 else { throw error("invalid PUT index \"\(line.prefix(40))\"") }
                    try memoPut(i)
                case 0x68: try memoGet(Int(try readByte()))            // BINGET
                case 0x6A: try memoGet(Int(try readLE(4)))             // LONG_BINGET
                case 0x67:                                             // GET
                    let line = try readLine()
                    guard let i = Int(line), i >= 0 else { throw error("invalid GET index \"\(line.prefix(40))\"") }
                    try memoGet(i)

                // Names and objects
                case 0x63: // GLOBAL
                    let module = try readLine()
                    let name = try readLine()
                    try push(try makeGlobal(module: module, name: name))
                case 0x93: // STACK_GLOBAL
                    let nameItem = try pop()
                    let moduleItem = try pop()
                    guard case .string(let name) = nameItem, case .string(let module) = moduleItem else {
                        throw error("STACK_GLOBAL needs two strings, got \(moduleItem.kindDescription) and \(nameItem.kindDescription)")
                    }
                    try push(try makeGlobal(module: module, name: name))
                case 0x52: // REDUCE
                    let args = try pop()
                    let callable = try pop()
                    try push(try reduce(callable, args))
                case 0x81: // NEWOBJ
                    let args = try pop()
                    let cls = try pop()
                    try push(try newObject(cls, args, kwargs: nil))
                case 0x92: // NEWOBJ_EX
                    let kwargs = try pop()
                    let args = try pop()
                    let cls = try pop()
                    try push(try newObject(cls, args, kwargs: kwargs))
                case 0x62: // BUILD
                    let state = try pop()
                    try build(try top(), state: state)
                case 0x51: // BINPERSID
                    let pid = try pop()
                    try push(try persistentLoad(pid))

                default:
                    let why: String
                    switch op {
                    case 0x50: why = "text persistent ids are not supported"
                    case 0x69, 0x6F: why = "old-style instance creation is not supported"
                    case 0x82, 0x83, 0x84: why = "the extension registry is not supported"
                    case 0x53: why = "protocol-0 quoted byte strings are not supported"
                    case 0x97, 0x98: why = "out-of-band buffers are not supported"
                    default: why = "unknown opcode"
                    }
                    throw ModelLoadError(path: path, reason: "unsupported pickle opcode \(Unpickler.describeOpcode(op)) at offset \(opStart): \(why)")
                }
            }
        }

        // MARK: container helpers

        func append(_ values: [Item], to target: Item) throws {
            guard case .node(let node) = target, node.kind == .list || node.kind == .object else {
                throw error("APPEND to \(target.kindDescription)")
            }
            node.elements.append(contentsOf: values)
        }

        func setItems(_ items: [Item], on target: Item) throws {
            guard case .node(let node) = target, node.kind == .dict || node.kind == .object else {
                throw error("SETITEM on \(target.kindDescription)")
            }
            for i in stride(from: 0, to: items.count, by: 2) {
                if node.kind == .dict { node.setItem(items[i], items[i + 1]) } else { node.entries.append((items[i], items[i + 1])) }
            }
        }

        func makeGlobal(module: String, name: String) throws -> Item {
            guard !module.isEmpty, !name.isEmpty else { throw error("GLOBAL with an empty name") }
            guard module.utf8.count <= 1024, name.utf8.count <= 1024 else { throw error("GLOBAL name too long") }
            return .global(module: module, name: name)
        }

        func tupleElements(_ item: Item, _ what: String) throws -> [Item] {
            guard case .node(let node) = item, node.kind == .tuple else {
                throw error("\(what) arguments must be a tuple, got \(item.kindDescription)")
            }
            return node.elements
        }

        func sequenceElements(_ item: Item) -> [Item]? {
            guard case .node(let node) = item, node.kind == .tuple || node.kind == .list || node.kind == .set else { return nil }
            return node.elements
        }

        // MARK: REDUCE / NEWOBJ / BUILD

        func reduce(_ callable: Item, _ argsItem: Item) throws -> Item {
            guard case .global(let rawModule, let name) = callable else {
                throw error("REDUCE of \(callable.kindDescription) (only named callables can be reduced)")
            }
            let module = Unpickler.canonicalModule(rawModule)
            let qualified = module + "." + name
            guard let kind = Unpickler.allowList[qualified] else {
                throw error("refusing to call \(qualified): not on the allow-list")
            }
            let args = try tupleElements(argsItem, qualified)
            switch kind {
            case .rebuildTensorV2:
                return .tensor(try rebuildTensor(args))
            case .rebuildParameter, .rebuildParameterWithState:
                let expected = kind == .rebuildParameter ? 3 : 4
                guard args.count == expected, case .tensor(let t) = args[0] else {
                    throw error("\(qualified) expects \(expected) arguments starting with a tensor")
                }
                return .tensor(t)
            case .orderedDict:
                let node = try newNode(.dict)
                if args.count == 1, let pairs = sequenceElements(args[0]) {
                    for pair in pairs {
                        guard let kv = sequenceElements(pair), kv.count == 2 else { throw error("OrderedDict items must be pairs") }
                        node.setItem(kv[0], kv[1])
                    }
                } else if !args.isEmpty {
                    throw error("OrderedDict expects no arguments or a list of pairs")
                }
                return .node(node)
            case .set, .frozenset:
                let node = try newNode(.set)
                if args.count == 1, let items = sequenceElements(args[0]) {
                    for item in items { node.addToSet(item) }
                } else if !args.isEmpty {
                    throw error("\(qualified) expects no arguments or one list")
                }
                return .node(node)
            case .torchSize:
                guard args.count == 1, let dims = sequenceElements(args[0]) else { throw error("torch.Size expects one tuple") }
                for d in dims {
                    guard case .int = d else { throw error("torch.Size element is \(d.kindDescription)") }
                }
                let node = try newNode(.tuple)
                node.elements = dims
                return .node(node)
            case .reconstructor:
                guard args.count == 3, case .global(let m, let n) = args[0] else {
                    throw error("copyreg._reconstructor expects (class, base, state)")
                }
                let clsModule = Unpickler.canonicalModule(m)
                guard Unpickler.isModuleClass(module: clsModule) || Unpickler.allowList["\(clsModule).\(n)"] == .inertObject else {
                    throw error("refusing to construct \(clsModule).\(n): not on the allow-list")
                }
                let node = try newNode(.object)
                node.module = m
                node.name = n
                if case .none = args[2] {} else { node.args = [args[2]] }
                return .node(node)
            case .inertObject:
                let node = try newNode(.object)
                node.module = rawModule
                node.name = name
                node.args = args
                return .node(node)
            }
        }

        func newObject(_ clsItem: Item, _ argsItem: Item, kwargs kwargsItem: Item?) throws -> Item {
            let opName = kwargsItem == nil ? "NEWOBJ" : "NEWOBJ_EX"
            guard case .global(let rawModule, let name) = clsItem else {
                throw error("\(opName) of \(clsItem.kindDescription) (only named classes)")
            }
            let module = Unpickler.canonicalModule(rawModule)
            let qualified = module + "." + name
            let args = try tupleElements(argsItem, qualified)
            var kwargs: [(key: Item, value: Item)] = []
            if let kwargsItem {
                guard case .node(let kw) = kwargsItem, kw.kind == .dict else {
                    throw error("NEWOBJ_EX keyword arguments must be a dict, got \(kwargsItem.kindDescription)")
                }
                kwargs = kw.entries
            }
            let kind = Unpickler.allowList[qualified]
            if kind == .orderedDict && args.isEmpty && kwargs.isEmpty { return .node(try newNode(.dict)) }
            if (kind == .set || kind == .frozenset) && args.isEmpty && kwargs.isEmpty { return .node(try newNode(.set)) }
            guard Unpickler.isModuleClass(module: module) || kind == .inertObject else {
                throw error("refusing to construct \(qualified): not on the allow-list")
            }
            let node = try newNode(.object)
            node.module = rawModule
            node.name = name
            node.args = args
            node.kwargs = kwargs
            return .node(node)
        }

        func build(_ target: Item, state: Item) throws {
            guard case .node(let node) = target else { throw error("BUILD on \(target.kindDescription)") }
            switch node.kind {
            case .object:
                // (dict, slots) pairs from objects with __slots__: merge both into one dict.
                var newState = state
                if case .node(let t) = state, t.kind == .tuple, t.elements.count == 2, isDictOrNone(t.elements[0]), isDictOrNone(t.elements[1]) {
                    let merged = try newNode(.dict)
                    for part in t.elements { if case .node(let d) = part { for e in d.entries { merged.setItem(e.key, e.value) } } }
                    newState = .node(merged)
                }
                if let old = node.state, case .node(let oldDict) = old, oldDict.kind == .dict,
                   case .node(let newDict) = newState, newDict.kind == .dict {
                    let merged = try newNode(.dict)
                    for e in oldDict.entries { merged.setItem(e.key, e.value) }
                    for e in newDict.entries { merged.setItem(e.key, e.value) }
                    node.state = .node(merged)
                } else {
                    node.state = newState
                }
            case .dict:
                guard case .node(let d) = state, d.kind == .dict else { throw error("BUILD on a dict with \(state.kindDescription) state") }
                for e in d.entries { node.setItem(e.key, e.value) }
            default:
                throw error("BUILD on \(node.kindDescription)")
            }
        }

        func isDictOrNone(_ item: Item) -> Bool {
            switch item {
            case .none: return true
            case .node(let n): return n.kind == .dict
            default: return false
            }
        }

        // MARK: torch storages and tensors

        func persistentLoad(_ pid: Item) throws -> Item {
            guard case .node(let node) = pid, node.kind == .tuple, node.elements.count == 5,
                  case .string("storage") = node.elements[0] else {
                throw error("unsupported persistent id (\(pid.kindDescription)); only torch storage references are allowed")
            }
            let e = node.elements
            guard case .global(let module, let className) = e[1], module == "torch" || module == "torch.storage",
                  let dtype = TorchDType.storageClasses[className] else {
                throw error("unsupported storage type \(e[1].kindDescription)")
            }
            guard case .string(let key) = e[2], Machine.isValidStorageKey(key) else {
                throw error("invalid storage key \(e[2].kindDescription)")
            }
            guard case .string(let location) = e[3] else { throw error("storage location is \(e[3].kindDescription)") }
            guard case .int(let count) = e[4], count >= 0 else { throw error("storage '\(key)' has an invalid element count (\(e[4].kindDescription))") }
            let ref = StorageRef(key: key, dtype: dtype, className: className, location: location, count: count)
            if let previous = storages[key] {
                guard previous.dtype == dtype, previous.count == count else {
                    throw error("storage '\(key)' declared twice with different types or sizes")
                }
            } else {
                storages[key] = ref
            }
            return .storage(ref)
        }

        static func isValidStorageKey(_ key: String) -> Bool {
            guard !key.isEmpty, key.utf8.count <= 256, key != ".", key != ".." else { return false }
            return key.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D || c == 0x2E
            }
        }

        func intList(_ item: Item, _ what: String) throws -> [Int] {
            guard let elements = sequenceElements(item) else { throw error("tensor \(what) is \(item.kindDescription), expected a tuple") }
            return try elements.map {
                guard case .int(let v) = $0 else { throw error("tensor \(what) element is \($0.kindDescription)") }
                return v
            }
        }

        func rebuildTensor(_ args: [Item]) throws -> TorchTensor {
            guard args.count == 6 || args.count == 7 else {
                throw error("_rebuild_tensor_v2 expects 6 or 7 arguments, got \(args.count)")
            }
            guard case .storage(let storage) = args[0] else { throw error("_rebuild_tensor_v2 storage is \(args[0].kindDescription)") }
            guard case .int(let offset) = args[1] else { throw error("tensor storage offset is \(args[1].kindDescription)") }
            let shape = try intList(args[2], "size")
            let strides = try intList(args[3], "stride")
            let t = try Unpickler.validatedTensor(storage: storage, offset: offset, shape: shape, strides: strides) { self.error($0) }
            tensors.append(t)
            return t
        }
    }

    /// Most elements a tensor view may have beyond its storage's element count (see `validatedTensor`).
    static let maxExpandedElements = 1 << 24

    /// Checks a strided view against its storage with overflow-checked arithmetic.
    static func validatedTensor(storage: StorageRef, offset: Int, shape: [Int], strides: [Int],
                                error: (String) -> ModelLoadError) throws -> TorchTensor {
        let name = "tensor on storage '\(storage.key)'"
        guard shape.count <= 8 else { throw error("\(name) has rank \(shape.count) (at most 8 supported)") }
        guard shape.count == strides.count else { throw error("\(name) has \(shape.count) sizes but \(strides.count) strides") }
        guard offset >= 0 else { throw error("\(name) has a negative storage offset \(offset)") }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw error("\(name) has a negative size \(shape)") }
        guard strides.allSatisfy({ $0 >= 0 }) else { throw error("\(name) has a negative stride \(strides)") }
        var count = 1
        var maxIndex = 0
        for (size, stride) in zip(shape, strides) {
            let (c, o1) = count.multipliedReportingOverflow(by: size)
            guard !o1 else { throw error("\(name): element count overflows (sizes \(shape))") }
            count = c
            if size > 0 {
                let (reach, o2) = (size - 1).multipliedReportingOverflow(by: stride)
                let (m, o3) = maxIndex.addingReportingOverflow(reach)
                guard !o2, !o3 else { throw error("\(name): sizes \(shape) × strides \(strides) overflow") }
                maxIndex = m
            }
        }
        // Overlapping views (stride 0, torch.expand) can have more elements than their storage; reading one makes
        // an array of all of them, so a few bytes of storage must not stand for billions of elements.
        guard count <= max(storage.count, maxExpandedElements) else {
            throw error("\(name) has \(count) elements (sizes \(shape), strides \(strides)) but its storage only \(storage.count): views larger than their storage are limited to \(maxExpandedElements) elements")
        }
        if count == 0 {
            guard offset <= storage.count else {
                throw error("\(name): offset \(offset) is beyond the storage's \(storage.count) elements")
            }
        } else {
            let (last, o) = offset.addingReportingOverflow(maxIndex)
            guard !o else { throw error("\(name): offset \(offset) + \(maxIndex) overflows") }
            guard last < storage.count else {
                throw error("\(name): sizes \(shape), strides \(strides), offset \(offset) reach element \(last) but the storage has \(storage.count) elements")
            }
        }
        return TorchTensor(storageKey: storage.key, dtype: storage.dtype, shape: shape, strides: strides,
                           storageOffset: offset, storageCount: storage.count, storageLocation: storage.location)
    }
}

// MARK: - Conversion to PickleValue (iterative, bounded depth, shared subtrees converted once, cycles rejected)

extension Unpickler {
    /// Turns the VM's node graph into a `PickleValue` tree without recursion (an explicit work stack), so the
    /// Swift stack use does not depend on the input. A node reached twice (memo sharing) is converted once and
    /// shared; its subtree height is remembered so that every path is checked against `maxNesting`.
    struct Converter {
        let path: String
        let maxNesting: Int
        /// Converted nodes with the height of their subtree.
        var cache: [ObjectIdentifier: (value: PickleValue, height: Int)] = [:]

        init(path: String, maxNesting: Int) {
            self.path = path
            self.maxNesting = maxNesting
        }

        private struct Frame {
            let node: Node
            let depth: Int
            /// The node's children, flattened: object = args, kwargs (k, v …), state?, entries (k, v …), elements.
            let children: [Item]
            var next = 0
            var results: [PickleValue] = []
            var height = 1
        }

        func tooDeep() -> ModelLoadError {
            ModelLoadError(path: path, reason: "pickle nested deeper than \(maxNesting) levels")
        }

        private static func scalar(_ item: Item) -> PickleValue? {
            switch item {
            case .none: return PickleValue.none
            case .bool(let v): return .bool(v)
            case .int(let v): return .int(v)
            case .float(let v): return .float(v)
            case .string(let v): return .string(v)
            case .bytes(let v): return .bytes(v)
            case .global(let m, let n): return .global(module: m, name: n)
            case .tensor(let t): return .tensor(t)
            case .storage(let s):
                return .object(PickleObject(module: "torch", name: s.className, args: [.string(s.key), .string(s.location), .int(s.count)]))
            case .node: return nil
            }
        }

        private static func flatten(_ node: Node) -> [Item] {
            switch node.kind {
            case .tuple, .list, .set: return node.elements
            case .dict: return node.entries.flatMap { [$0.key, $0.value] }
            case .object:
                var out = node.args
                for kv in node.kwargs { out.append(kv.key); out.append(kv.value) }
                if let state = node.state { out.append(state) }
                for kv in node.entries { out.append(kv.key); out.append(kv.value) }
                out.append(contentsOf: node.elements)
                return out
            }
        }

        private static func pairs(_ values: ArraySlice<PickleValue>) -> [(key: PickleValue, value: PickleValue)] {
            var out: [(key: PickleValue, value: PickleValue)] = []
            out.reserveCapacity(values.count / 2)
            var i = values.startIndex
            while i + 1 < values.endIndex {
                out.append((values[i], values[i + 1]))
                i += 2
            }
            return out
        }

        private static func assemble(_ node: Node, _ r: [PickleValue]) -> PickleValue {
            switch node.kind {
            case .tuple: return .tuple(r)
            case .list, .set: return .list(r)
            case .dict: return .dict(pairs(r[...]))
            case .object:
                var i = 0
                let object = PickleObject(module: node.module, name: node.name)
                object.args = Array(r[i..<(i + node.args.count)]); i += node.args.count
                object.kwargs = pairs(r[i..<(i + 2 * node.kwargs.count)]); i += 2 * node.kwargs.count
                if node.state != nil { object.state = r[i]; i += 1 }
                object.dictItems = pairs(r[i..<(i + 2 * node.entries.count)]); i += 2 * node.entries.count
                object.listItems = Array(r[i...])
                return .object(object)
            }
        }

        mutating func convert(_ root: Item) throws -> PickleValue {
            if let value = Converter.scalar(root) { return value }
            guard case .node(let rootNode) = root else { return .none }
            var frames: [Frame] = []
            var inProgress: Set<ObjectIdentifier> = []

            func open(_ node: Node, depth: Int) throws {
                guard depth < maxNesting else { throw tooDeep() }
                let id = ObjectIdentifier(node)
                guard !inProgress.contains(id) else {
                    throw ModelLoadError(path: path, reason: "pickle contains a recursive structure (\(node.kindDescription) contains itself)")
                }
                inProgress.insert(id)
                frames.append(Frame(node: node, depth: depth, children: Converter.flatten(node)))
            }

            try open(rootNode, depth: 0)
            while true {
                let top = frames.count - 1
                if frames[top].next < frames[top].children.count {
                    let child = frames[top].children[frames[top].next]
                    frames[top].next += 1
                    if let value = Converter.scalar(child) {
                        frames[top].results.append(value)
                    } else if case .node(let node) = child {
                        let depth = frames[top].depth + 1
                        if let cached = cache[ObjectIdentifier(node)] {
                            guard depth + cached.height <= maxNesting else { throw tooDeep() }
                            frames[top].results.append(cached.value)
                            frames[top].height = max(frames[top].height, cached.height + 1)
                        } else {
                            try open(node, depth: depth)
                        }
                    }
                    continue
                }
                let frame = frames.removeLast()
                let id = ObjectIdentifier(frame.node)
                inProgress.remove(id)
                let value = Converter.assemble(frame.node, frame.results)
                cache[id] = (value, frame.height)
                guard let parent = frames.indices.last else { return value }
                frames[parent].results.append(value)
                frames[parent].height = max(frames[parent].height, frame.height + 1)
            }
        }
    }
}

private extension String {
    func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
