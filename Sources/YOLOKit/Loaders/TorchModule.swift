/// A read-only view of a pickled `torch.nn.Module` (as found in `TorchCheckpoint.root`): its class, attributes,
/// child modules, parameters and buffers, taken from the module's pickled `__dict__` (the BUILD state):
/// `_modules` (name → module or None), `_parameters` and `_buffers` (name → tensor or None); every other state
/// key is an attribute (`training`, hook dicts, and the module's own fields such as Conv2d `stride`).
/// A module object shared by several parents (e.g. one `SiLU` instance) becomes one shared `TorchModule`.
public final class TorchModule {
    /// Fully qualified class name, e.g. "ultralytics.nn.modules.conv.Conv".
    public let typeName: String
    /// The class name alone, e.g. "Conv".
    public var className: String { object.name }
    /// The pickled object this view was built from.
    public let object: PickleObject
    /// Every state key other than `_modules`, `_parameters`, `_buffers`.
    public let attributes: [String: PickleValue]
    /// Child modules in registration order (None entries skipped).
    public let children: [(name: String, module: TorchModule)]
    /// Parameters in registration order (None entries skipped).
    public let parameters: [(name: String, tensor: TorchTensor)]
    /// Buffers in registration order (None entries skipped).
    public let buffers: [(name: String, tensor: TorchTensor)]
    /// The checkpoint path, for error messages.
    public let path: String

    /// Builds the tree from an nn.Module object. Throws `ModelLoadError` (with `path`) when the object's state is
    /// not that of a module (no dict state, no `_modules`, a child that is not an object, a parameter that is not
    /// a tensor, …).
    public convenience init(_ object: PickleObject, path: String) throws {
        var built: [ObjectIdentifier: TorchModule] = [:]
        var active: Set<ObjectIdentifier> = []
        try self.init(object, path: path, built: &built, active: &active)
    }

    /// Like `init(_:path:)` for any value: fails clearly unless it is a module object.
    public convenience init(_ value: PickleValue, path: String) throws {
        guard case .object(let object) = value else {
            throw ModelLoadError(path: path, reason: "expected an nn.Module object, found \(value.kindDescription)")
        }
        try self.init(object, path: path)
    }

    private init(_ object: PickleObject, path: String, built: inout [ObjectIdentifier: TorchModule],
                 active: inout Set<ObjectIdentifier>) throws {
        let type = object.qualifiedName
        self.object = object
        self.typeName = type
        self.path = path
        func fail(_ message: String) -> ModelLoadError {
            ModelLoadError(path: path, reason: "\(type): \(message)")
        }
        guard let state = object.state, case .dict(let entries) = state else {
            throw fail("not an nn.Module (its pickled state is \(object.state?.kindDescription ?? "missing"), expected a dict)")
        }
        var attributes: [String: PickleValue] = [:]
        var modulesValue: PickleValue?
        var parametersValue: PickleValue?
        var buffersValue: PickleValue?
        for (key, value) in entries {
            guard case .string(let name) = key else { throw fail("state key is \(key.kindDescription), expected a string") }
            switch name {
            case "_modules": modulesValue = value
            case "_parameters": parametersValue = value
            case "_buffers": buffersValue = value
            default: attributes[name] = value
            }
        }
        guard let modulesValue else { throw fail("not an nn.Module (no _modules in its state)") }
        self.attributes = attributes

        func namedEntries(_ value: PickleValue?, _ what: String) throws -> [(String, PickleValue)] {
            guard let value else { return [] }
            guard case .dict(let items) = value else { throw fail("\(what) is \(value.kindDescription), expected a dict") }
            return try items.map { key, item in
                guard case .string(let name) = key else { throw fail("\(what) key is \(key.kindDescription)") }
                return (name, item)
            }
        }
        func tensors(_ value: PickleValue?, _ what: String) throws -> [(name: String, tensor: TorchTensor)] {
            try namedEntries(value, what).compactMap { name, item in
                switch item {
                case .none: return nil
                case .tensor(let t): return (name, t)
                default: throw fail("\(what)['\(name)'] is \(item.kindDescription), expected a tensor")
                }
            }
        }
        parameters = try tensors(parametersValue, "_parameters")
        buffers = try tensors(buffersValue, "_buffers")

        let id = ObjectIdentifier(object)
        active.insert(id)
        defer { active.remove(id) }
        var children: [(name: String, module: TorchModule)] = []
        for (name, item) in try namedEntries(modulesValue, "_modules") {
            switch item {
            case .none: continue
            case .object(let child):
                let childID = ObjectIdentifier(child)
                guard !active.contains(childID) else { throw fail("module '\(name)' contains itself") }
                if let existing = built[childID] {
                    children.append((name, existing))
                } else {
                    let module = try TorchModule(child, path: path, built: &built, active: &active)
                    built[childID] = module
                    children.append((name, module))
                }
            default:
                throw fail("_modules['\(name)'] is \(item.kindDescription), expected a module")
            }
        }
        self.children = children
    }

    // MARK: - Lookup

    public func child(_ name: String) -> TorchModule? { children.first { $0.name == name }?.module }

    /// A descendant by dotted path ("model.22.cv2.0"), as in a PyTorch state-dict key.
    public func module(at dottedPath: String) -> TorchModule? {
        var current: TorchModule? = self
        for part in dottedPath.split(separator: ".") { current = current?.child(String(part)) }
        return current
    }

    public func parameter(_ name: String) -> TorchTensor? { parameters.first { $0.name == name }?.tensor }
    public func buffer(_ name: String) -> TorchTensor? { buffers.first { $0.name == name }?.tensor }

    // MARK: - Typed attributes (errors name the module type and the key)

    private func attribute(_ key: String) throws -> PickleValue {
        guard let value = attributes[key] else { throw ModelLoadError(path: path, reason: "\(typeName): attribute '\(key)' is missing") }
        return value
    }

    private func wrongType(_ key: String, _ value: PickleValue, _ expected: String) -> ModelLoadError {
        ModelLoadError(path: path, reason: "\(typeName): attribute '\(key)' is \(value.kindDescription), expected \(expected)")
    }

    public func int(_ key: String) throws -> Int {
        let value = try attribute(key)
        guard let v = value.intValue else { throw wrongType(key, value, "an int") }
        return v
    }

    /// An int attribute, or a tuple/list of ints (a single int gives a one-element array).
    public func ints(_ key: String) throws -> [Int] {
        let value = try attribute(key)
        if let v = value.intValue { return [v] }
        guard let items = value.items else { throw wrongType(key, value, "an int or a tuple/list of ints") }
        return try items.map {
            guard let v = $0.intValue else { throw wrongType(key, value, "an int or a tuple/list of ints") }
            return v
        }
    }

    /// A float or int attribute as Double.
    public func double(_ key: String) throws -> Double {
        let value = try attribute(key)
        guard let v = value.doubleValue else { throw wrongType(key, value, "a number") }
        return v
    }

    public func bool(_ key: String) throws -> Bool {
        let value = try attribute(key)
        guard let v = value.boolValue else { throw wrongType(key, value, "a bool") }
        return v
    }

    public func string(_ key: String) throws -> String {
        let value = try attribute(key)
        guard let v = value.stringValue else { throw wrongType(key, value, "a string") }
        return v
    }

    /// A tensor attribute (e.g. Detect `stride`).
    public func tensor(_ key: String) throws -> TorchTensor {
        let value = try attribute(key)
        guard let v = value.tensorValue else { throw wrongType(key, value, "a tensor") }
        return v
    }
}
