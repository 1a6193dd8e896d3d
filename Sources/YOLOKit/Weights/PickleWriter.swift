/// Emits pickle protocol 2 opcodes, memoizing the way CPython's C pickler does, so that a state dict comes
/// out byte-identical to `torch.save`'s `data.pkl` for the same tensors.
///
/// What CPython memoizes (BINPUT, or LONG_BINPUT from index 256): every GLOBAL, every string, every non-empty
/// tuple, every REDUCE result. A second use of the same object is a BINGET. CPython tracks objects by
/// identity; here only values registered by key (`memoKey`: globals and constant strings like "storage",
/// "cpu") are looked up again, which is what torch's identical objects amount to.
struct PickleWriter {
    private(set) var bytes: [UInt8] = [0x80, 0x02]  // PROTO 2
    private var memoSize = 0
    private var memo: [String: Int] = [:]

    /// MARK: pushes a mark for TUPLE / SETITEMS.
    mutating func mark() { bytes.append(UInt8(ascii: "(")) }

    /// STOP: the end of the pickle.
    mutating func stop() { bytes.append(UInt8(ascii: ".")) }

    /// SETITEM (one key/value pair on the stack) or SETITEMS (pairs since the mark).
    mutating func setItem() { bytes.append(UInt8(ascii: "s")) }
    mutating func setItems() { bytes.append(UInt8(ascii: "u")) }

    /// REDUCE: callable(*args), memoized.
    mutating func reduce() {
        bytes.append(UInt8(ascii: "R"))
        put()
    }

    /// BINPERSID: the persistent id on the stack (a tuple) becomes the object the loader resolves.
    mutating func persistentID() { bytes.append(UInt8(ascii: "Q")) }

    /// NEWTRUE / NEWFALSE.
    mutating func bool(_ v: Bool) { bytes.append(v ? 0x88 : 0x89) }

    /// GLOBAL `module\nname\n`, or a BINGET when already written.
    mutating func global(_ module: String, _ name: String) {
        let key = "g:" + module + "\n" + name
        if get(key) { return }
        bytes.append(UInt8(ascii: "c"))
        bytes += Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A]
        put(key)
    }

    /// BINUNICODE (u32 LE length + UTF-8). With `memoKey`, a second write of the same string is a BINGET.
    mutating func string(_ s: String, memoKey: Bool = false) {
        let key = "s:" + s
        if memoKey, get(key) { return }
        let utf8 = Array(s.utf8)
        bytes.append(UInt8(ascii: "X"))
        append32(UInt32(utf8.count))
        bytes += utf8
        put(memoKey ? key : nil)
    }

    /// The smallest int opcode: BININT1 (0…255), BININT2 (…65535), BININT (signed 32-bit), else LONG1 with
    /// the minimal little-endian two's complement bytes.
    mutating func int(_ v: Int) {
        if (0..<256).contains(v) {
            bytes += [UInt8(ascii: "K"), UInt8(v)]
        } else if (0..<65536).contains(v) {
            bytes += [UInt8(ascii: "M"), UInt8(v & 0xFF), UInt8(v >> 8)]
        } else if let v32 = Int32(exactly: v) {
            bytes.append(UInt8(ascii: "J"))
            append32(UInt32(bitPattern: v32))
        } else {
            var le = withUnsafeBytes(of: Int64(v).littleEndian) { Array($0) }
            // Drop high bytes that only repeat the sign.
            while le.count > 1, (le[le.count - 1] == 0 && le[le.count - 2] & 0x80 == 0)
                    || (le[le.count - 1] == 0xFF && le[le.count - 2] & 0x80 != 0) {
                le.removeLast()
            }
            bytes += [0x8A, UInt8(le.count)] + le
        }
    }

    /// A tuple of `count` elements written by `body`: EMPTY_TUPLE (not memoized, CPython shares the empty
    /// tuple), TUPLE1/2/3, or MARK … TUPLE; non-empty tuples are memoized.
    mutating func tuple(_ count: Int, _ body: (inout PickleWriter) -> Void) {
        if count == 0 {
            body(&self)
            bytes.append(UInt8(ascii: ")"))
            return
        }
        if count > 3 { mark() }
        body(&self)
        switch count {
        case 1: bytes.append(0x85)
        case 2: bytes.append(0x86)
        case 3: bytes.append(0x87)
        default: bytes.append(UInt8(ascii: "t"))
        }
        put()
    }

    /// A tuple of ints (a tensor's size or stride).
    mutating func intTuple(_ values: [Int]) {
        tuple(values.count) { w in for v in values { w.int(v) } }
    }

    /// BINPUT / LONG_BINPUT of the object on top of the stack, remembered under `key` when given.
    private mutating func put(_ key: String? = nil) {
        let index = memoSize
        memoSize += 1
        if let key { memo[key] = index }
        if index < 256 {
            bytes += [UInt8(ascii: "q"), UInt8(index)]
        } else {
            bytes.append(UInt8(ascii: "r"))
            append32(UInt32(index))
        }
    }

    /// BINGET / LONG_BINGET of the object memoized under `key`; false when there is none.
    private mutating func get(_ key: String) -> Bool {
        guard let index = memo[key] else { return false }
        if index < 256 {
            bytes += [UInt8(ascii: "h"), UInt8(index)]
        } else {
            bytes.append(UInt8(ascii: "j"))
            append32(UInt32(index))
        }
        return true
    }

    private mutating func append32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
