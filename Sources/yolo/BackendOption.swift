import ArgumentParser
import YOLOKit

/// `--backend blas|swift`: which GEMM runs the convolutions. Both give the same detections (outputs equal to
/// float rounding); `yolo bench` compares their speed.
enum BackendChoice: String, ExpressibleByArgument, CaseIterable {
    /// OpenBLAS `cblas_sgemm` through the C shim.
    case blas
    /// The project's own pure-Swift GEMM (`SwiftGEMM`).
    case swift

    static let help: ArgumentHelp = "GEMM backend: blas (OpenBLAS) or swift (the pure-Swift kernels); same detections, see `yolo bench`."

    /// The backend, using `threads` threads per GEMM.
    func makeGEMM(threads: Int) -> any GEMMBackend {
        switch self {
        case .blas: return OpenBLASGEMM()  // threads: OpenBLAS is process-wide, set by Detector
        case .swift: return SwiftGEMM(threads: threads)
        }
    }
}

extension Detector {
    /// Makes every later `detect` run its convolutions on `choice`.
    func use(_ choice: BackendChoice) {
        gemm = choice.makeGEMM(threads: threads)
    }
}
