import CQuantKernels
import Dispatch

/// Instruction sets the low-precision kernels use that this CPU has and the OS has enabled (cpuid + xgetbv; for AMX
/// also granted to this process: reading `current` asks Linux for the tile-data permission, once).
public struct CPUFeatures: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// AVX2 with FMA.
    public static let avx2 = CPUFeatures(rawValue: UInt32(CQK_FEATURE_AVX2))
    /// AVX512F with AVX512BW.
    public static let avx512bw = CPUFeatures(rawValue: UInt32(CQK_FEATURE_AVX512BW))
    public static let avx512vnni = CPUFeatures(rawValue: UInt32(CQK_FEATURE_AVX512VNNI))
    public static let avx512bf16 = CPUFeatures(rawValue: UInt32(CQK_FEATURE_AVX512BF16))
    /// AMX-TILE + AMX-INT8 (Sapphire Rapids and later), tile data usable by this process.
    public static let amxInt8 = CPUFeatures(rawValue: UInt32(CQK_FEATURE_AMXINT8))
    /// AMX-TILE + AMX-BF16, likewise.
    public static let amxBF16 = CPUFeatures(rawValue: UInt32(CQK_FEATURE_AMXBF16))

    /// This machine's (a constant of the hardware, read once).
    public static let current = CPUFeatures(rawValue: cqk_cpu_features())

    public var description: String {
        let names: [(CPUFeatures, String)] = [(.avx2, "AVX2+FMA"), (.avx512bw, "AVX512F+BW"), (.avx512vnni, "AVX512_VNNI"),
                                              (.avx512bf16, "AVX512_BF16"), (.amxInt8, "AMX-INT8"), (.amxBF16, "AMX-BF16")]
        let present = names.filter { contains($0.0) }.map(\.1)
        return present.isEmpty ? "none of AVX2, AVX-512" : present.joined(separator: ", ")
    }
}

/// Which micro-kernel the low-precision GEMMs run. `automatic` takes the fastest the CPU has; forcing one the CPU
/// lacks throws `UnsupportedKernelError` (running it would be an illegal instruction). Every int8 kernel gives
/// the same bits; the bf16 kernels agree within the bound stated in `BF16GEMM`.
public enum LowPrecisionKernel {
    /// The int8 GEMM (`Int8GEMM`): u8 activations × s8 weights, int32 sums.
    public enum Int8: String, CaseIterable, Sendable {
        case automatic = "auto"
        /// AMX tiles (`tdpbsud`): 16 × 16 × 64 products per instruction, blocks of 32 × 32 over all of K.
        case amx
        /// `vpdpbusd`: 4 u8·s8 products per 32-bit lane per instruction.
        case vnni
        /// AVX-512 without VNNI: bytes widened to int16, `vpmaddwd` (exact; no `vpmaddubsw` saturation).
        case avx512bw
        /// The same arithmetic on 256-bit vectors.
        case avx2
        /// Plain C.
        case scalar

        public var requiredFeatures: CPUFeatures {
            switch self {
            case .automatic, .scalar: return []
            case .amx: return [.avx512bw, .amxInt8]
            case .vnni: return [.avx512bw, .avx512vnni]
            case .avx512bw: return .avx512bw
            case .avx2: return .avx2
            }
        }

        /// The fastest kernel for `features`.
        public static func best(for features: CPUFeatures = .current) -> Int8 {
            [.amx, .vnni, .avx512bw, .avx2].first { features.isSuperset(of: $0.requiredFeatures) } ?? .scalar
        }

        /// The fastest kernel for a GEMM of `depth` (K): AMX pads K to whole 64-value chunks, so below 64 (a
        /// network's first conv, K = 27) the next kernel is faster (on the 2-vCPU Xeon, 1.1 against 1.55 ms for
        /// 16 × 27 × 173056 on one thread).
        public static func best(for features: CPUFeatures = .current, depth: Int) -> Int8 {
            let kernel = best(for: features)
            return kernel == .amx && depth < 64 ? best(for: features.subtracting(.amxInt8)) : kernel
        }

        /// `automatic` → `best(for:)`; another kernel → itself when `features` has what it needs, else throws.
        public func resolved(for features: CPUFeatures = .current) throws -> Int8 {
            if self == .automatic { return Int8.best(for: features) }
            guard features.isSuperset(of: requiredFeatures) else {
                throw UnsupportedKernelError(gemm: "int8", kernel: rawValue, missing: requiredFeatures.subtracting(features), available: features,
                                             supported: Int8.allCases.filter { features.isSuperset(of: $0.requiredFeatures) }.map(\.rawValue))
            }
            return self
        }

        var cKernel: cqk_int8_kernel {
            switch self {
            case .amx: return CQK_INT8_AMX
            case .vnni: return CQK_INT8_VNNI
            case .avx512bw: return CQK_INT8_AVX512BW
            case .avx2: return CQK_INT8_AVX2
            case .scalar, .automatic: return CQK_INT8_SCALAR
            }
        }
    }

    /// The bf16 GEMM (`BF16GEMM`): bf16 weights × bf16-rounded activations, fp32 sums.
    public enum BF16: String, CaseIterable, Sendable {
        case automatic = "auto"
        /// AMX tiles (`tdpbf16ps`): 16 × 16 × 32 products per instruction, blocks of 32 × 32 over all of K.
        case amx
        /// `vdpbf16ps`: 2 bf16 products per fp32 lane per instruction.
        case avx512bf16
        /// Fallback: bf16 expanded to fp32 (a shift), FMA on AVX-512.
        case avx512
        /// The same fallback in plain C.
        case scalar

        public var requiredFeatures: CPUFeatures {
            switch self {
            case .automatic, .scalar: return []
            case .amx: return [.avx512bw, .amxBF16]
            case .avx512bf16: return [.avx512bw, .avx512bf16]
            case .avx512: return .avx512bw
            }
        }

        /// The first of amx, avx512bf16, avx512, scalar that `features` runs (by instruction set; `automatic` on this
        /// machine without AMX also times avx512bf16 against avx512, see `resolved(for:)`).
        public static func best(for features: CPUFeatures = .current) -> BF16 {
            [.amx, .avx512bf16, .avx512].first { features.isSuperset(of: $0.requiredFeatures) } ?? .scalar
        }

        /// `automatic` → for this machine's features `timedBest`, for other features `best(for:)`; another kernel →
        /// itself when `features` has what it needs, else throws.
        public func resolved(for features: CPUFeatures = .current) throws -> BF16 {
            if self == .automatic { return features == .current ? BF16.timedBest : BF16.best(for: features) }
            guard features.isSuperset(of: requiredFeatures) else {
                throw UnsupportedKernelError(gemm: "bf16", kernel: rawValue, missing: requiredFeatures.subtracting(features), available: features,
                                             supported: BF16.allCases.filter { features.isSuperset(of: $0.requiredFeatures) }.map(\.rawValue))
            }
            return self
        }

        var cKernel: cqk_bf16_kernel {
            switch self {
            case .amx: return CQK_BF16_AMX
            case .avx512bf16: return CQK_BF16_AVX512BF16
            case .avx512: return CQK_BF16_AVX512
            case .scalar, .automatic: return CQK_BF16_SCALAR
            }
        }
    }
}

extension LowPrecisionKernel.BF16 {
    /// `automatic`'s kernel here: AMX where the CPU has it (4× `vdpbf16ps` on the 2-vCPU Xeon: 227 against 55 GFLOP/s
    /// for 512 × 2304 × 169 on one thread, packing included), else where the CPU has both, the faster of `vdpbf16ps` and the AVX-512 fallback on an
    /// L1-resident tile (timed once per process, about 2 ms). Not a foregone choice: on the project's 2-vCPU Xeon
    /// a register-only `vdpbf16ps` loop ran at 33 GFLOP/s against 76 for fp32 FMA in the same run (one instruction per
    /// ~4 cycles), and the fallback's tile was faster. Both
    /// give the same bits on normal values (the tests check it), so the choice changes only the speed.
    public static let timedBest: LowPrecisionKernel.BF16 = chooseByTiming()

    static func chooseByTiming() -> LowPrecisionKernel.BF16 {
        if CPUFeatures.current.isSuperset(of: LowPrecisionKernel.BF16.amx.requiredFeatures) { return .amx }
        let candidates = [LowPrecisionKernel.BF16.avx512bf16, .avx512].filter { CPUFeatures.current.isSuperset(of: $0.requiredFeatures) }
        guard candidates.count == 2 else { return best() }
        let pairs = 128, rows = LowPrecisionTile.rows, columns = LowPrecisionTile.columns
        let a = [UInt16](repeating: 0x3F80, count: pairs * rows * 2), b = [UInt16](repeating: 0x3F00, count: pairs * columns * 2)
        var c = [Float](repeating: 0, count: rows * columns)
        func seconds(_ kernel: LowPrecisionKernel.BF16) -> Double {
            var fastest = Double.infinity
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                for _ in 0..<5 {
                    let start = DispatchTime.now().uptimeNanoseconds
                    for _ in 0..<40 {
                        cqk_bf16_tile(kernel.cKernel, Int64(pairs), pa.baseAddress!, pb.baseAddress!, pc.baseAddress!, 0, Int32(rows),
                                      Int32(columns), nil, pc.baseAddress!, Int64(columns))
                    }
                    fastest = min(fastest, Double(DispatchTime.now().uptimeNanoseconds - start))
                }
            }}}
            return fastest
        }
        var dotProduct = Double.infinity, fallback = Double.infinity
        for _ in 0..<2 {  // interleaved, so that a burst of load elsewhere hits both
            dotProduct = min(dotProduct, seconds(.avx512bf16))
            fallback = min(fallback, seconds(.avx512))
        }
        return fallback * 1.15 < dotProduct ? .avx512 : .avx512bf16
    }
}

/// A kernel was forced that this CPU cannot run.
public struct UnsupportedKernelError: Error, CustomStringConvertible, Equatable, Sendable {
    public let gemm: String
    public let kernel: String
    public let missing: CPUFeatures
    public let available: CPUFeatures
    /// The choices that do run here (`auto` first).
    public let supported: [String]

    public var description: String {
        "the \(gemm) kernel '\(kernel)' needs \(missing), which this CPU does not have (it has: \(available)); "
            + "choose one of: \(supported.joined(separator: ", "))"
    }
}

/// The micro-tile of both low-precision GEMMs (quant_kernels.h): 8 rows of W × 32 columns of X.
enum LowPrecisionTile {
    static let rows = Int(CQK_MR)
    static let columns = Int(CQK_NR)
}
