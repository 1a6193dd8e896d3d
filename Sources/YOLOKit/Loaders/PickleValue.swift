/// The value model of a Python pickle as read by `Unpickler`: plain data, opaque names and inert objects.
///
/// Nothing in here was ever executed: a `.global` is just the name a pickle referred to, and a `.object` is
/// the record of "an instance of this class with these arguments and this state" — the class was never looked
/// up. The only constructors that are interpreted are the few on `Unpickler`'s allow-list (tensors, dicts,
/// sets, `torch.Size`). Trees are finite and at most `Unpickler.Limits.maxNesting` deep (cycles are rejected).
public indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list([PickleValue])
    /// A dict (or OrderedDict) with its insertion order kept.
    case dict([(key: PickleValue, value: PickleValue)])
    /// An unresolved name, e.g. `torch.float16` or a class referenced but never instantiated.
    case global(module: String, name: String)
    /// An instance of a class that was never run (see `PickleObject`).
    case object(PickleObject)
    /// A tensor view of a storage of the checkpoint (validated against the storage's element count).
    case tensor(TorchTensor)

    /// The value of an `.int`.
    public var intValue: Int? {
        if case .int(let v) = self { return v }
        return nil
    }

    /// The value of a `.float`, or of an `.int` converted to `Double`.
    public var doubleValue: Double? {
        switch self {
        case .float(let v): return v
        case .int(let v): return Double(v)
        default: return nil
        }
    }

    /// The value of a `.string`.
    public var stringValue: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// The value of a `.bool`.
    public var boolValue: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    /// The elements of a `.tuple` or a `.list`.
    public var items: [PickleValue]? {
        switch self {
        case .tuple(let v), .list(let v): return v
        default: return nil
        }
    }

    /// The entries of a `.dict`, in insertion order.
    public var dictItems: [(key: PickleValue, value: PickleValue)]? {
        if case .dict(let v) = self { return v }
        return nil
    }

    /// The object of an `.object`.
    public var objectValue: PickleObject? {
        if case .object(let v) = self { return v }
        return nil
    }

    /// The tensor of a `.tensor`.
    public var tensorValue: TorchTensor? {
        if case .tensor(let v) = self { return v }
        return nil
    }

    /// The value stored under the string key `key` of a `.dict` (the first such entry), nil otherwise.
    public func value(forKey key: String) -> PickleValue? {
        guard case .dict(let entries) = self else { return nil }
        for entry in entries {
            if case .string(let k) = entry.key, k == key { return entry.value }
        }
        return nil
    }

    /// A short name of the kind of value, for error messages ("an int", "a dict", "a ultralytics...Conv object").
    public var kindDescription: String {
        switch self {
        case .none: return "None"
        case .bool: return "a bool"
        case .int: return "an int"
        case .float: return "a float"
        case .string: return "a string"
        case .bytes: return "bytes"
        case .tuple: return "a tuple"
        case .list: return "a list"
        case .dict: return "a dict"
        case .global(let module, let name): return "the name \(module).\(name)"
        case .object(let object): return "a \(object.qualifiedName) object"
        case .tensor: return "a tensor"
        }
    }
}

/// An instance of a Python class as recorded by a pickle (NEWOBJ / an allow-listed REDUCE + BUILD + items).
/// The class was never looked up or run; this is only its name and the data the pickle gave it.
public final class PickleObject {
    /// The class's module, e.g. "ultralytics.nn.modules.conv".
    public let module: String
    /// The class's name, e.g. "Conv".
    public let name: String
    public var qualifiedName: String { module + "." + name }
    /// Constructor arguments (NEWOBJ / NEWOBJ_EX positional arguments, or the REDUCE arguments).
    public internal(set) var args: [PickleValue]
    /// NEWOBJ_EX keyword arguments (empty otherwise).
    public internal(set) var kwargs: [(key: PickleValue, value: PickleValue)]
    /// The BUILD argument (for nn.Module: the instance `__dict__`). Several BUILDs with dict states are merged.
    public internal(set) var state: PickleValue?
    /// SETITEM(S) applied to the object (dict subclasses).
    public internal(set) var dictItems: [(key: PickleValue, value: PickleValue)]
    /// APPEND(S) applied to the object (list subclasses).
    public internal(set) var listItems: [PickleValue]

    init(module: String, name: String, args: [PickleValue] = [], kwargs: [(key: PickleValue, value: PickleValue)] = [],
         state: PickleValue? = nil, dictItems: [(key: PickleValue, value: PickleValue)] = [], listItems: [PickleValue] = []) {
        self.module = module
        self.name = name
        self.args = args
        self.kwargs = kwargs
        self.state = state
        self.dictItems = dictItems
        self.listItems = listItems
    }

    /// `state[key]` when the state is a dict with string keys.
    public func stateValue(forKey key: String) -> PickleValue? { state?.value(forKey: key) }
}

/// Element type of a torch storage, from the storage class name (`torch.HalfStorage` → `.float16`).
public enum TorchDType: String, Sendable {
    case float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool

    public var byteSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// `torch.<X>Storage` class names → dtype (`UntypedStorage` is bytes).
    static let storageClasses: [String: TorchDType] = [
        "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16, "DoubleStorage": .float64,
        "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
        "ByteStorage": .uint8, "BoolStorage": .bool, "UntypedStorage": .uint8,
    ]
}

/// A strided view (`_rebuild_tensor_v2`) of one storage of the checkpoint. Element `[i0, i1, …]` is storage element
/// `storageOffset + Σ i_k * strides[k]`. Validated when unpickled: sizes and strides ≥ 0, rank ≤ 8, every reachable
/// element inside the storage's declared element count.
public struct TorchTensor: Sendable {
    /// The storage's name in the archive: `<prefix>/data/<storageKey>`.
    public let storageKey: String
    public let dtype: TorchDType
    public let shape: [Int]
    public let strides: [Int]
    public let storageOffset: Int
    /// Element count the pickle declared for the whole storage (the archive entry must hold this × dtype size bytes).
    public let storageCount: Int
    /// Where the storage lived when saved ("cpu", "cuda:0", …); informational.
    public let storageLocation: String

    /// Number of elements (product of `shape`; 1 for a scalar). Validated not to overflow.
    public var count: Int { shape.reduce(1, *) }

    /// True when the strides are the row-major strides of `shape` (dimensions of size 1 ignored).
    public var isContiguous: Bool {
        var expected = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] != 1 {
            if strides[d] != expected { return false }
            expected *= shape[d]
        }
        return true
    }
}
