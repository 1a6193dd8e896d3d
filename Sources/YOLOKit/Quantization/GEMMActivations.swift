/// Where a low-precision GEMM (`Int8GEMM`, `BF16GEMM`) reads its X [K × N] from: a matrix in memory, or a function
/// that writes any block of X's columns — a conv's im2col made one block at a time, just before the block is packed,
/// so that X is never written whole (it can be tens of MB at 640², written and read back through memory).
public enum GEMMActivations<Element> {
    /// X at stride ldx (≥ N).
    case matrix(UnsafePointer<Element>, ldx: Int)
    /// `write(col0, col1, block)` writes columns col0 ..< col1 of X, all K rows, into block at stride col1 − col0. It
    /// runs on the GEMM's threads, several blocks at once.
    case columns(_ write: (Int, Int, UnsafeMutablePointer<Element>) -> Void)
}

/// One GEMM thread's view of `GEMMActivations`: columns col0 ..< col1 as a pointer and stride — into the matrix, or
/// into this thread's block buffer (rows × `capacity` columns, allocated once, freed with the view). A request outside
/// the block written last writes the next one: from col0 on, `capacity` columns or to `end` (the thread's last
/// column), so that a thread asking panel by panel gets few, long row segments rather than many 32-column ones.
final class ColumnBlock<Element> {
    private let source: GEMMActivations<Element>
    private let buffer: UnsafeMutablePointer<Element>?
    private let capacity: Int, end: Int
    private var written = 0..<0

    init(_ source: GEMMActivations<Element>, rows: Int, capacity: Int, end: Int) {
        self.source = source
        self.capacity = max(1, capacity)
        self.end = end
        if case .columns = source { buffer = .allocate(capacity: max(1, rows * self.capacity)) } else { buffer = nil }
    }

    /// A capacity of about `bytes` per block (whole 32-column panels, at least one).
    convenience init(_ source: GEMMActivations<Element>, rows: Int, bytes: Int, end: Int) {
        let columns = bytes / max(1, rows * MemoryLayout<Element>.stride)
        self.init(source, rows: rows, capacity: max(LowPrecisionTile.columns, columns / LowPrecisionTile.columns * LowPrecisionTile.columns), end: end)
    }

    deinit { buffer?.deallocate() }

    func columns(_ col0: Int, _ col1: Int) -> (UnsafePointer<Element>, ldx: Int) {
        switch source {
        case let .matrix(x, ldx): return (x + col0, ldx)
        case let .columns(write):
            precondition(col1 - col0 <= capacity && col1 <= end, "ColumnBlock: columns \(col0) ..< \(col1) exceed the block")
            if !(written.lowerBound <= col0 && col1 <= written.upperBound) {
                written = col0..<min(end, col0 + capacity)
                write(written.lowerBound, written.upperBound, buffer!)
            }
            return (UnsafePointer(buffer! + (col0 - written.lowerBound)), written.count)
        }
    }
}

/// The AMX drivers' loop over column panels (int8 and bf16 alike): the N panels of `LowPrecisionTile.columns` split
/// over the workers; each worker packs up to `group` of its panels at a time from `source` (`pack`: one panel's
/// columns, their count and ld, into its `panelElements` of the buffer), then `run` takes the packed group (the
/// buffer, the panel count, the first column and the column count) and runs every block of W over it.
func amxPanelGroups<Element, Packed>(_ source: GEMMActivations<Element>, rows k: Int, columns n: Int, panelElements: Int, group: Int,
                                     workers: Int, packed: Packed.Type,
                                     pack: (UnsafePointer<Element>, Int, Int, UnsafeMutablePointer<Packed>) -> Void,
                                     run: (UnsafeMutablePointer<Packed>, Int, Int, Int) -> Void) {
    let nr = LowPrecisionTile.columns, nPanels = (n + nr - 1) / nr
    parallelChunks(nPanels, threads: workers) { panels in
        let count = min(group, panels.count) * panelElements
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Packed>.stride, alignment: 64)
            .bindMemory(to: Packed.self, capacity: count)
        let block = ColumnBlock<Element>(source, rows: k, capacity: min(group, panels.count) * nr, end: min(n, panels.upperBound * nr))
        defer { buffer.deallocate() }
        var first = panels.lowerBound
        while first < panels.upperBound {
            let panelCount = min(group, panels.upperBound - first), col0 = first * nr
            let columns = min(panelCount * nr, n - col0)
            let (x, ldx) = block.columns(col0, col0 + columns)
            for p in 0..<panelCount { pack(x + p * nr, min(nr, columns - p * nr), ldx, buffer + p * panelElements) }
            run(buffer, panelCount, col0, columns)
            first += panelCount
        }
    }
}

