import CImageCodecs
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file (or buffer) that could not be turned into an image. `description` is "<path>: <reason>".
public struct ImageDecodeError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// Decodes JPEG and PNG files into 8-bit RGB, the way OpenCV's `imread(path, IMREAD_COLOR)` does
/// (the project's reference): libjpeg-turbo with the ISLOW DCT and fancy upsampling, PNG 16-bit samples
/// truncated to 8 bits, alpha dropped without compositing, EXIF orientation applied.
///
/// The format is sniffed from the content (a PNG named `.jpg` decodes fine). Truncated files are errors
/// (unlike OpenCV, which returns a partly gray image with a warning). `maxPixels` bounds width * height and
/// is checked from the header, before any pixel memory is allocated (pass `Int.max` to disable the guard;
/// values below 1 act as 1). Progressive JPEGs with more than 1000 scans are refused as scan bombs.
public enum ImageDecoder {
    /// Pillow's default decompression-bomb limit (`Image.MAX_IMAGE_PIXELS`).
    public static let defaultMaxPixels = 178_956_970

    /// Reads and decodes a file (JPEG/PNG by content) and applies its EXIF orientation.
    /// Errors name the file and the reason: missing file, empty file, unreadable, not an image,
    /// corrupt/truncated (with the codec library's message), too many pixels.
    public static func decode(contentsOf path: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        let data = try readFile(path)
        return try decode(data: data, name: path, maxPixels: maxPixels)
    }

    /// Decodes an in-memory JPEG/PNG and applies its EXIF orientation; `name` labels errors.
    public static func decode(data: [UInt8], name: String = "<memory>", maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        let (image, orientation) = try decodeUnoriented(data: data, name: name, maxPixels: maxPixels)
        return image.applyingEXIFOrientation(orientation)
    }

    /// Decodes without applying the orientation; returns the EXIF orientation (1...8) alongside.
    static func decodeUnoriented(data: [UInt8], name: String, maxPixels: Int) throws -> (image: RGBImage, orientation: Int) {
        if data.isEmpty { throw ImageDecodeError(path: name, reason: "empty file (0 bytes)") }
        var out = ic_image()
        var message = [CChar](repeating: 0, count: 1024)
        let limit = UInt64(max(maxPixels, 1))
        let status = data.withUnsafeBufferPointer { buf in
            message.withUnsafeMutableBufferPointer { msg in
                ic_decode(buf.baseAddress, buf.count, limit, &out, msg.baseAddress, msg.count)
            }
        }
        guard status == Int32(IC_OK), let pixelsPointer = out.pixels else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw ImageDecodeError(path: name, reason: text.isEmpty ? "cannot decode image (status \(status))" : text)
        }
        defer { ic_free(pixelsPointer) }
        let width = Int(out.width), height = Int(out.height)
        let pixels = [UInt8](UnsafeBufferPointer(start: pixelsPointer, count: width * height * 3))
        return (RGBImage(width: width, height: height, pixels: pixels), Int(out.orientation))
    }

    /// Whole-file read with errno-based reasons.
    static func readFile(_ path: String) throws -> [UInt8] {
        func fail(_ reason: String) -> ImageDecodeError { ImageDecodeError(path: path, reason: reason) }
        func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            switch code {
            case ENOENT: throw fail("file not found")
            case EACCES: throw fail("cannot open file: permission denied")
            default: throw fail("cannot open file: \(errnoText(code))")
            }
        }
        defer { close(fd) }

        var info = stat()
        guard fstat(fd, &info) == 0 else { throw fail("cannot stat file: \(errnoText(errno))") }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw fail("is a directory, not an image file") }

        // Regular files: read exactly st_size (and keep reading in case the file grew). Pipes and other
        // special files report 0 and are read in chunks until EOF.
        var bytes = [UInt8](repeating: 0, count: max(Int(info.st_size), 0) + 1)
        var count = 0
        while true {
            if count == bytes.count { bytes.append(contentsOf: repeatElement(0, count: max(bytes.count, 65536))) }
            let n = bytes.withUnsafeMutableBytes { raw in
                read(fd, raw.baseAddress! + count, raw.count - count)
            }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw fail(code == EISDIR ? "is a directory, not an image file" : "read error: \(errnoText(code))")
            }
            if n == 0 { break }
            count += n
        }
        if count == 0 { throw fail("empty file (0 bytes)") }
        bytes.removeSubrange(count...)
        return bytes
    }
}
