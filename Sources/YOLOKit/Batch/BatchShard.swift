/// `--shard i/n`: part `i` (0-based) of `n` disjoint parts of the same inputs, chosen by a stable hash of each
/// input's relative path, so that every machine given the same sources agrees on who does what without talking
/// to the others, and the union of the parts is the whole.
///
/// The hash is 64-bit FNV-1a over the UTF-8 bytes of the relative path (offset basis 0xcbf29ce484222325, prime
/// 0x100000001b3); an input belongs to part `hash % n`. (Python: `h = 0xcbf29ce484222325; for b in p.encode():
/// h = ((h ^ b) * 0x100000001b3) % 2**64`.)
public struct BatchShard: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, (0..<count).contains(index) else {
            throw BatchUsageError("--shard \(index)/\(count): the part must be in 0...\(max(count - 1, 0)) and the count at least 1")
        }
        self.index = index; self.count = count
    }

    /// Parses `i/n`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0].trimmingCharacters(in: .whitespaces)),
              let n = Int(parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw BatchUsageError("--shard takes i/n, the part i (from 0) of n parts, e.g. 3/16 (got '\(text)')")
        }
        try self.init(index: i, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    public func contains(_ item: BatchItem) -> Bool {
        Int(BatchShard.hash(item.relativePath) % UInt64(count)) == index
    }

    public static func hash(_ key: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return h
    }
}

/// A mistake in the command line or its setting (exit status 2): the message says what and how to fix it.
public struct BatchUsageError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

import Foundation
