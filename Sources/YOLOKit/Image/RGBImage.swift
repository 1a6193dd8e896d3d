/// An 8-bit RGB image, rows top to bottom, pixels interleaved: `pixels[(y * width + x) * 3 + c]`, c = R,G,B.
/// Every decoder produces this and every preprocessing step starts from it.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]  // [height, width, 3]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3, "RGBImage: pixel count must be width*height*3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A solid-color image (used for padding canvases and tests).
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8)) {
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { p[3 * i] = fill.0; p[3 * i + 1] = fill.1; p[3 * i + 2] = fill.2 }
        self.init(width: width, height: height, pixels: p)
    }
}
