/// A small seeded generator (SplitMix64, Steele et al. 2014): the same seed gives the same numbers everywhere.
public struct SplitMix64: RandomNumberGenerator, Sendable, Equatable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [low, high): 24 random bits.
    public mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(next() >> 40) / Float(1 << 24)
    }

    /// Uniform in [low, high): 53 random bits.
    public mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * Double(next() >> 11) / Double(UInt64(1) << 53)
    }
}

extension SplitMix64 {
    /// A generator for one purpose of one run, e.g. (seed, epoch, image): the numbers depend only on the keys, never
    /// on which thread or in which order they are drawn, so a run is the same for any worker count and resumes
    /// exactly.
    public init(seed: UInt64, keys: UInt64...) {
        var mixer = SplitMix64(seed: seed)
        var state = mixer.next()
        for key in keys {
            mixer = SplitMix64(seed: state ^ (key &* 0xD6E8_FEB8_6659_FD93))
            state = mixer.next()
        }
        self.init(seed: state)
    }

    /// Uniform in 0..<n (n > 0), by rejection: no modulo bias.
    public mutating func index(below n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n), limit = UInt64.max - UInt64.max % bound
        while true {
            let x = next()
            if x < limit { return Int(x % bound) }
        }
    }

    /// Fisher–Yates shuffle of 0..<n.
    public mutating func permutation(_ n: Int) -> [Int] {
        var order = Array(0..<n)
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, index(below: i + 1)) }
        return order
    }
}
