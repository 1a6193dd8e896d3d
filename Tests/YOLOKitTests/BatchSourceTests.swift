import Foundation
import XCTest
@testable import YOLOKit

/// Source enumeration (folders, globs, lists, stdin), relative paths, sorting, and shards.
final class BatchSourceTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = try BatchFixture.temporaryFolder("sources")
        // a.jpg  B.JPG  c.Jpeg  notes.txt  data.bin  .hidden.jpg  ._a.jpg  sub/d.png  sub/deep/e.PNG  sub/deep/f.gif  .git/g.jpg
        for name in ["a.jpg", "B.JPG", "c.Jpeg", "sub/d.png", "sub/deep/e.PNG", ".hidden.jpg", "._a.jpg", ".git/g.jpg",
                     "notes.txt", "data.bin", "sub/deep/f.gif"] {
            try BatchFixture.write(Array("x".utf8), to: root + "/" + name)
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func rels(_ items: [BatchItem]) -> [String] { items.map(\.relativePath) }

    func testFolderTakesImagesOnlyAnyCaseSortedAndRecursiveOnRequest() {
        let flat = BatchSource.enumerate([root], recursive: false)
        XCTAssertEqual(rels(flat), ["B.JPG", "a.jpg", "c.Jpeg"])  // byte order: uppercase first
        XCTAssertEqual(flat.map(\.path), [root + "/B.JPG", root + "/a.jpg", root + "/c.Jpeg"])
        XCTAssertTrue(flat.allSatisfy { $0.failure == nil })
        let deep = BatchSource.enumerate([root + "/"], recursive: true)
        XCTAssertEqual(rels(deep), ["B.JPG", "a.jpg", "c.Jpeg", "sub/d.png", "sub/deep/e.PNG"])
        XCTAssertEqual(deep.last?.path, root + "/sub/deep/e.PNG")
    }

    func testExplicitFilesAreAlwaysTriedAndMissingOnesFailWhenOpened() {
        let items = BatchSource.enumerate([root + "/notes.txt.bak", root + "/data.bin", root + "/a.jpg"], recursive: false)
        XCTAssertEqual(rels(items), ["a.jpg", "data.bin", "notes.txt.bak"])
        XCTAssertTrue(items.allSatisfy { $0.failure == nil })
    }

    func testRelativePathsStartAtTheDeepestCommonFolder() {
        let items = BatchSource.enumerate([root + "/sub/deep/e.PNG", root + "/sub", root + "/a.jpg"], recursive: false)
        XCTAssertEqual(rels(items), ["a.jpg", "sub/d.png", "sub/deep/e.PNG"])
        // The same file named twice (directly and through its folder) is one input.
        let twice = BatchSource.enumerate([root + "/sub/d.png", root + "/sub", "\(root)/sub/../sub/d.png"], recursive: false)
        XCTAssertEqual(rels(twice), ["d.png"])
    }

    func testGlobsWithDoubleStar() {
        let all = BatchSource.enumerate([root + "/**/*.*"], recursive: false)
        XCTAssertEqual(rels(all), ["B.JPG", "a.jpg", "c.Jpeg", "sub/d.png", "sub/deep/e.PNG"])  // images only, no hidden
        let png = BatchSource.enumerate([root + "/sub/**/*.[pP][nN][gG]"], recursive: false)
        XCTAssertEqual(rels(png), ["d.png", "deep/e.PNG"])
        let none = BatchSource.enumerate([root + "/**/*.webp"], recursive: false)
        XCTAssertEqual(none.count, 1)
        XCTAssertEqual(none.first?.failure, "no image files match this pattern")
    }

    func testListFilesAndStandardInput() throws {
        let list = root + "/list.txt"
        try BatchFixture.write(Array("# photos\n a.jpg \n\nsub/deep/e.PNG\r\n\(root)/sub\n".utf8), to: list)
        let fromList = BatchSource.enumerate([list], recursive: false)
        XCTAssertEqual(rels(fromList), ["a.jpg", "sub/d.png", "sub/deep/e.PNG"])
        XCTAssertEqual(fromList.first?.path, root + "/a.jpg")  // found beside the list
        let fromStdin = BatchSource.enumerate(["-"], recursive: false, standardInput: { "\(root)/B.JPG\n\(root)/c.Jpeg\n" })
        XCTAssertEqual(rels(fromStdin), ["B.JPG", "c.Jpeg"])
    }

    func testEmptyAndUnreadableFoldersAreFailedInputs() throws {
        let empty = root + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let items = BatchSource.enumerate([empty, root + "/a.jpg"], recursive: false)
        XCTAssertEqual(items.count, 2)
        XCTAssertEqual(items.first { $0.path == empty }?.failure?.hasPrefix("no images"), true)
        XCTAssertEqual(items.first { $0.path == root + "/a.jpg" }?.relativePath, "a.jpg")  // the failure does not move the root
    }

    func testShardsAreDisjointStableAndCoverEverything() throws {
        var random = SeededRandom(seed: 7)
        let items = (0..<2000).map { i in BatchItem(path: "p\(i)", relativePath: "set\(random.next() % 17)/IMG_\(i).jpg") }
        for n in [1, 2, 3, 16] {
            var seen = Set<String>()
            var sizes: [Int] = []
            for i in 0..<n {
                let shard = try BatchShard(index: i, count: n)
                let part = items.filter(shard.contains)
                sizes.append(part.count)
                for item in part { XCTAssertTrue(seen.insert(item.relativePath).inserted, "\(item.relativePath) in two shards") }
            }
            XCTAssertEqual(seen.count, items.count, "the union of \(n) shards is everything")
            XCTAssertLessThan(Double(sizes.max()!), Double(items.count) / Double(n) * 1.25 + 10, "shards of \(n) are balanced: \(sizes)")
        }
        // FNV-1a 64 reference values.
        XCTAssertEqual(BatchShard.hash(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(BatchShard.hash("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(BatchShard.hash("foobar"), 0x8594_4171_f739_67e8)
    }

    func testShardParsing() throws {
        XCTAssertEqual(try BatchShard(parsing: "3/16"), try BatchShard(index: 3, count: 16))
        for bad in ["16/16", "-1/4", "1/0", "3", "a/b", "1/2/3", ""] {
            XCTAssertThrowsError(try BatchShard(parsing: bad), bad)
        }
    }

    func testGlobDetection() {
        XCTAssertTrue(BatchSource.isGlob("photos/**/*.jpg"))
        XCTAssertTrue(BatchSource.isGlob("img?.png"))
        XCTAssertFalse(BatchSource.isGlob("photos/a.jpg"))
        XCTAssertTrue(BatchSource.isImageName("x.JPEG"))
        XCTAssertFalse(BatchSource.isImageName("x.gif"))
    }
}
