// swift-tools-version:6.0
import PackageDescription
import Foundation

// Hot loops (im2col, activations, resize, the pure-Swift GEMM) need the CPU's vector units: Swift builds
// for baseline x86-64 (no AVX, no FMA) unless told otherwise. By default we build for the machine doing
// the build (`-target-cpu native`). Set YOLO_TARGET_CPU to a CPU name (e.g. `x86-64-v3`, `skylake-avx512`,
// `znver4`) to build for another machine, or to `generic` for a portable binary.
let targetCPU = ProcessInfo.processInfo.environment["YOLO_TARGET_CPU"] ?? "native"
let cpuSwiftFlags: [SwiftSetting] = targetCPU == "generic" ? [] : [.unsafeFlags(["-target-cpu", targetCPU])]
let cpuCFlags: [CSetting] = targetCPU == "generic" ? [] : [.unsafeFlags(["-march=\(targetCPU)"])]

let package = Package(
    name: "SwiftYOLO",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "YOLOKit", targets: ["YOLOKit"]),
        .executable(name: "yolo", targets: ["yolo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // OpenBLAS cblas_sgemm + thread control, LAPACKE (Debian: libopenblas-dev, liblapacke-dev).
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        // libjpeg(-turbo) / libpng behind setjmp-safe C functions (Debian: libjpeg-dev, libpng-dev).
        .target(
            name: "CImageCodecs",
            cSettings: cpuCFlags + [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16"), .linkedLibrary("z")]
        ),
        .target(
            name: "YOLOKit",
            dependencies: [
                "COpenBLAS", "CImageCodecs", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: cpuSwiftFlags
        ),
        .executableTarget(
            name: "yolo",
            dependencies: ["YOLOKit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: cpuSwiftFlags
        ),
        .testTarget(
            name: "YOLOKitTests",
            // `yolo` too: the CLI tests run the built binary, so `swift test` must build it.
            dependencies: ["YOLOKit", "yolo"],
            path: "Tests/YOLOKitTests",
            swiftSettings: cpuSwiftFlags
        ),
    ],
    swiftLanguageModes: [.v5]
)
