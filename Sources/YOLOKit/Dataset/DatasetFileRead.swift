import Foundation

extension DatasetError {
    /// The bytes of a dataset file (labels, image list, COCO json), read up to `limit` bytes: a file that cannot be
    /// opened or read, or is larger, is an error naming it (`missing` / `tooLarge` are the reasons).
    static func readFile(_ path: String, limit: Int, missing: String = "cannot be read", tooLarge: String) throws -> Data {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw DatasetError(path: path, reason: missing) }
        defer { try? handle.close() }
        let data: Data
        do { data = try handle.read(upToCount: limit + 1) ?? Data() } catch {
            throw DatasetError(path: path, reason: "cannot be read: \(error.localizedDescription)")
        }
        guard data.count <= limit else { throw DatasetError(path: path, reason: tooLarge) }
        return data
    }
}
