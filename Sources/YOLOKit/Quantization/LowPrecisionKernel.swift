import CQuantKernels

/// Instruction sets the low-precision kernels use that this CPU has and the OS has enabled (cpuid + xgetbv).
public struct CPUFeatures: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// AVX2 with FMA.
    public static let avx2 = CPUFeatures(rawValue: UInt32(CQK_FEATURE_AVX2))
    /// AVX512F with AVX512BW.
    public static let avx512bw = CPUFeatures(rawValue: UInt32(CQK_FEATURE_AVX512BW))
    public static let avx512vnni = CPUFeatures(rawValue: UInt32(CQK_FEATURE_AVX512VNNI))
    public static let avx512bf16 = CPUFeatures(rawValue: UInt32(CQK_FEATURE_AVX512BF16))

    /// This machine's (a constant of the hardware, read once).
    public static let current = CPUFeatures(rawValue: cqk_cpu_features())

    public var description: String {
        let names: [(CPUFeatures, String)] = [(.avx2, "AVX2+FMA"), (.avx512bw, "AVX512F+BW"), (.avx512vnni, "AVX512_VNNI"),
                                              (.avx512bf16, "AVX512_BF16")]
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
            case .vnni: return [.avx512bw, .avx512vnni]
            case .avx512bw: return .avx512bw
            case .avx2: return .avx2
            }
        }

        /// The fastest kernel for `features`.
        public static func best(for features: CPUFeatures = .current) -> Int8 {
            [.vnni, .avx512bw, .avx2].first { features.isSuperset(of: $0.requiredFeatures) } ?? .scalar
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
        /// `vdpbf16ps`: 2 bf16 products per fp32 lane per instruction.
        case avx512bf16
        /// Fallback: bf16 expanded to fp32 (a shift), FMA on AVX-512.
        case avx512
        /// The same fallback in plain C.
        case scalar

        public var requiredFeatures: CPUFeatures {
            switch self {
            case .automatic, .scalar: return []
            case .avx512bf16: return [.avx512bw, .avx512bf16]
            case .avx512: return .avx512bw
            }
        }

        public static func best(for features: CPUFeatures = .current) -> BF16 {
            [.avx512bf16, .avx512].first { features.isSuperset(of: $0.requiredFeatures) } ?? .scalar
        }

        public func resolved(for features: CPUFeatures = .current) throws -> BF16 {
            if self == .automatic { return BF16.best(for: features) }
            guard features.isSuperset(of: requiredFeatures) else {
                throw UnsupportedKernelError(gemm: "bf16", kernel: rawValue, missing: requiredFeatures.subtracting(features), available: features,
                                             supported: BF16.allCases.filter { features.isSuperset(of: $0.requiredFeatures) }.map(\.rawValue))
            }
            return self
        }

        var cKernel: cqk_bf16_kernel {
            switch self {
            case .avx512bf16: return CQK_BF16_AVX512BF16
            case .avx512: return CQK_BF16_AVX512
            case .scalar, .automatic: return CQK_BF16_SCALAR
            }
        }
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
