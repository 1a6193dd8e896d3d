// Target `image`: ImageDecoder.decode(data:) on arbitrary bytes (JPEG/PNG sniffing, libjpeg/libpng through the
// setjmp-safe C shim, EXIF orientation), then the three ways the detector places an image into a network input.
import Foundation

/// Lower than the CLI default so that one input cannot make the fuzzer allocate hundreds of MB; the code path
/// (header check before any pixel allocation) is the same for every limit.
let fuzzImageMaxPixels = 1 << 22

func fuzzImage(_ bytes: [UInt8]) {
    let name = "fuzz-input.jpg"
    let image: RGBImage
    do {
        image = try ImageDecoder.decode(data: bytes, name: name, maxPixels: fuzzImageMaxPixels)
    } catch {
        expectClearError(error, path: name)
        return
    }
    guard image.width >= 1, image.height >= 1, image.width * image.height <= fuzzImageMaxPixels,
          image.pixels.count == image.width * image.height * 3 else {
        fuzzFail("decoded an inconsistent image: \(image.width)x\(image.height), \(image.pixels.count) bytes")
    }
    fuzzLog("decoded \(image.width)x\(image.height)")
    // Resizing is O(pixels): keep it for small images (most fuzz inputs).
    guard image.width * image.height <= 1 << 16 else { return }
    let input = FeatureMap(shape: TensorShape(channels: 3, height: 32, width: 64))
    _ = Preprocess.stretch(image, into: input)
    _ = Preprocess.darknetLetterbox(image, into: input)
    let g = Preprocess.ultralyticsLetterboxGeometry(width: image.width, height: image.height, imageSize: 64)
    let letterboxed = FeatureMap(shape: TensorShape(channels: 3, height: g.inputHeight, width: g.inputWidth))
    let transform = Preprocess.ultralyticsLetterbox(image, into: letterboxed, imageSize: 64)
    let box = transform.imageBox(Box(x1: 0, y1: 0, x2: Float(g.inputWidth), y2: Float(g.inputHeight)))
    guard box.x1 >= 0, box.y1 >= 0, box.x2 <= Float(image.width), box.y2 <= Float(image.height) else {
        fuzzFail("letterbox maps the input back outside the image: \(box)")
    }
}
