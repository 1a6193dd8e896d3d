import Foundation
import XCTest
@testable import YOLOKit

/// Model downloads go through libcurl loaded on first use (`cdl_download`); a file:// URL exercises the same
/// path offline: the whole body lands under the final name, a failure leaves no file behind.
final class ModelDownloadTests: XCTestCase {
    func testDownloadWritesTheWholeFileOrNothing() throws {
        let folder = NSTemporaryDirectory() + "download-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let body = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try body.write(to: URL(fileURLWithPath: folder + "/source.bin"))
        let target = folder + "/models/model.pt"  // the folder is created
        guard (try? ModelRegistry.download("file://" + folder + "/source.bin", to: target)) != nil else {
            throw XCTSkip("libcurl.so.4 is not installed")
        }
        XCTAssertEqual(FileManager.default.contents(atPath: target), body)

        // A failed download keeps the earlier file and leaves no temporary one.
        XCTAssertThrowsError(try ModelRegistry.download("file://" + folder + "/missing.bin", to: target)) { error in
            XCTAssertTrue("\(error)".contains("download failed"), "\(error)")
        }
        XCTAssertEqual(FileManager.default.contents(atPath: target), body)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder + "/models"), ["model.pt"])
        XCTAssertThrowsError(try ModelRegistry.download("nosuchscheme://x", to: folder + "/other.pt"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/other.pt"))
    }
}
