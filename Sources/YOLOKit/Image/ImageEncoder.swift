import CImageCodecs

/// An image that could not be encoded (invalid size or pixel count, or a codec failure).
public struct ImageEncodeError: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "cannot encode image: \(reason)" }
}

/// Encodes RGB images as JPEG (libjpeg-turbo, 4:2:0, baseline Huffman) or PNG (8-bit RGB, libpng defaults).
public enum ImageEncoder {
    /// JPEG bytes; `quality` is clamped to 1...100.
    public static func jpegData(_ img: RGBImage, quality: Int = 90) throws -> [UInt8] {
        try jpegData(img, quality: quality, flags: 0)
    }

    /// PNG bytes (lossless: decoding gives back exactly `img`).
    public static func pngData(_ img: RGBImage) throws -> [UInt8] {
        try encode(img) { rgb, w, h, out, size, msg, msgSize in
            ic_encode_png(rgb, w, h, out, size, msg, msgSize)
        }
    }

    /// JPEG with codec options (`IC_JPEG_PROGRESSIVE`, `IC_JPEG_ARITHMETIC`, `IC_JPEG_444`).
    static func jpegData(_ img: RGBImage, quality: Int, flags: UInt32) throws -> [UInt8] {
        let q = Int32(clamping: min(max(quality, 1), 100))
        return try encode(img) { rgb, w, h, out, size, msg, msgSize in
            ic_encode_jpeg(rgb, w, h, q, flags, out, size, msg, msgSize)
        }
    }

    private typealias EncodeFunction = (
        UnsafePointer<UInt8>?, Int32, Int32, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>,
        UnsafeMutablePointer<Int>, UnsafeMutablePointer<CChar>?, Int
    ) -> Int32

    private static func encode(_ img: RGBImage, _ body: EncodeFunction) throws -> [UInt8] {
        guard img.width > 0, img.height > 0, img.width <= Int(Int32.max), img.height <= Int(Int32.max) else {
            throw ImageEncodeError(reason: "invalid size \(img.width)x\(img.height)")
        }
        guard img.pixels.count == img.width * img.height * 3 else {
            throw ImageEncodeError(reason: "pixel buffer holds \(img.pixels.count) bytes, expected \(img.width)x\(img.height)x3")
        }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var message = [CChar](repeating: 0, count: 512)
        let status = img.pixels.withUnsafeBufferPointer { rgb in
            message.withUnsafeMutableBufferPointer { msg in
                body(rgb.baseAddress, Int32(img.width), Int32(img.height), &out, &size, msg.baseAddress, msg.count)
            }
        }
        guard status == Int32(IC_OK), let bytes = out else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw ImageEncodeError(reason: text.isEmpty ? "encoder failed (status \(status))" : text)
        }
        defer { ic_free(bytes) }
        return [UInt8](UnsafeBufferPointer(start: bytes, count: size))
    }
}
