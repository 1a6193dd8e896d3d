/// How an image was placed into the network input: network pixel = image pixel · scale + pad.
/// Boxes come back to image pixels through `imageBox`.
public struct InputTransform: Equatable, Sendable {
    public var scaleX: Float
    public var scaleY: Float
    public var padX: Float
    public var padY: Float
    public var imageWidth: Int
    public var imageHeight: Int

    /// Maps a box from original-image pixels into network-input pixels (labels, for validation), unclipped.
    public func inputBox(_ b: Box) -> Box {
        Box(x1: b.x1 * scaleX + padX, y1: b.y1 * scaleY + padY, x2: b.x2 * scaleX + padX, y2: b.y2 * scaleY + padY)
    }

    /// Maps a box from network-input pixels to original-image pixels, clipped to the image.
    public func imageBox(_ b: Box) -> Box {
        Box(x1: (b.x1 - padX) / scaleX, y1: (b.y1 - padY) / scaleY, x2: (b.x2 - padX) / scaleX, y2: (b.y2 - padY) / scaleY)
            .clipped(width: Float(imageWidth), height: Float(imageHeight))
    }
}

public enum Preprocess {
    /// Stretches the image to the network size (OpenCV `blobFromImage` without crop; Darknet default).
    public static func stretch(_ image: RGBImage, into input: FeatureMap) -> InputTransform {
        let w = input.shape.width, h = input.shape.height
        fill(input, with: resizeBilinear(image, width: w, height: h), x: 0, y: 0, pad: 0)
        return InputTransform(scaleX: Float(w) / Float(image.width), scaleY: Float(h) / Float(image.height),
                              padX: 0, padY: 0, imageWidth: image.width, imageHeight: image.height)
    }

    /// Darknet `letter_box=1`: keep the aspect ratio (integer sizes as Darknet computes them), centre the
    /// image, pad with 0.5.
    public static func darknetLetterbox(_ image: RGBImage, into input: FeatureMap) -> InputTransform {
        let w = input.shape.width, h = input.shape.height
        let (newW, newH) = Float(w) / Float(image.width) < Float(h) / Float(image.height)
            ? (w, max(1, image.height * w / image.width)) : (max(1, image.width * h / image.height), h)
        let x = (w - newW) / 2, y = (h - newH) / 2
        fill(input, with: resizeBilinear(image, width: newW, height: newH), x: x, y: y, pad: 0.5)
        return InputTransform(scaleX: Float(newW) / Float(image.width), scaleY: Float(newH) / Float(image.height),
                              padX: Float(x), padY: Float(y), imageWidth: image.width, imageHeight: image.height)
    }

    /// Writes `image` (RGB8) into the [3, H, W] input at (x, y) as value/255; the rest becomes `pad`.
    public static func fill(_ input: FeatureMap, with image: RGBImage, x: Int, y: Int, pad: Float) {
        let w = input.shape.width, h = input.shape.height, plane = w * h
        precondition(input.shape.channels == 3 && x >= 0 && y >= 0 && x + image.width <= w && y + image.height <= h)
        if image.width != w || image.height != h { input.pointer.update(repeating: pad, count: 3 * plane) }
        image.pixels.withUnsafeBufferPointer { px in
            for row in 0..<image.height {
                let src = px.baseAddress! + row * image.width * 3
                for c in 0..<3 {
                    let dst = input.pointer + c * plane + (y + row) * w + x
                    for col in 0..<image.width { dst[col] = Float(src[col * 3 + c]) / 255 }
                }
            }
        }
    }

    /// Ultralytics' letterbox geometry for an image of `width`×`height` and a target of `imageSize`:
    /// ratio r = min(size/h, size/w); resized size round(w·r)×round(h·r) (Python's round: half to even, at
    /// least 1); with `rect` (what `predict` uses for .pt models) the padded size is the smallest multiple of
    /// `stride` holding it, else size×size; padding split as round(d/2 − 0.1) before and round(d/2 + 0.1) after.
    public static func ultralyticsLetterboxGeometry(width: Int, height: Int, imageSize: Int, stride: Int = 32, rect: Bool = true)
        -> (resizedWidth: Int, resizedHeight: Int, left: Int, top: Int, inputWidth: Int, inputHeight: Int, ratio: Double) {
        let r = min(Double(imageSize) / Double(height), Double(imageSize) / Double(width))
        let newW = max(Int((Double(width) * r).rounded(.toNearestOrEven)), 1)
        let newH = max(Int((Double(height) * r).rounded(.toNearestOrEven)), 1)
        var dw = imageSize - newW, dh = imageSize - newH
        if rect { dw = ((dw % stride) + stride) % stride; dh = ((dh % stride) + stride) % stride }
        let left = Int((Double(dw) / 2 - 0.1).rounded(.toNearestOrEven)), right = Int((Double(dw) / 2 + 0.1).rounded(.toNearestOrEven))
        let top = Int((Double(dh) / 2 - 0.1).rounded(.toNearestOrEven)), bottom = Int((Double(dh) / 2 + 0.1).rounded(.toNearestOrEven))
        return (newW, newH, left, top, newW + left + right, newH + top + bottom, r)
    }

    /// Ultralytics letterbox into an input already shaped by `ultralyticsLetterboxGeometry`: OpenCV-exact
    /// bilinear resize, gray 114 padding. Boxes map back as Ultralytics' `scale_boxes` does.
    public static func ultralyticsLetterbox(_ image: RGBImage, into input: FeatureMap, imageSize: Int, rect: Bool = true) -> InputTransform {
        let g = ultralyticsLetterboxGeometry(width: image.width, height: image.height, imageSize: imageSize, rect: rect)
        precondition(input.shape.width == g.inputWidth && input.shape.height == g.inputHeight, "letterbox: input shape does not match the geometry")
        fill(input, with: resizeBilinear(image, width: g.resizedWidth, height: g.resizedHeight), x: g.left, y: g.top, pad: Float(114) / 255)  // as the uint8 canvas value 114 → /255 in Float
        // scale_boxes recomputes the geometry from the shapes: gain = min(inputH/h, inputW/w), each side
        // resized to round(side·gain), per-axis scale new/old, padding round((input − new)/2 − 0.1).
        let gain = min(Double(g.inputHeight) / Double(image.height), Double(g.inputWidth) / Double(image.width))
        let newW = max((Double(image.width) * gain).rounded(.toNearestOrEven), 1), newH = max((Double(image.height) * gain).rounded(.toNearestOrEven), 1)
        let padX = ((Double(g.inputWidth) - newW) / 2 - 0.1).rounded(.toNearestOrEven)
        let padY = ((Double(g.inputHeight) - newH) / 2 - 0.1).rounded(.toNearestOrEven)
        return InputTransform(scaleX: Float(newW / Double(image.width)), scaleY: Float(newH / Double(image.height)),
                              padX: Float(padX), padY: Float(padY), imageWidth: image.width, imageHeight: image.height)
    }

    /// Ultralytics' validation geometry (`yolo val`; DetectionValidator with rect batches of one image, 8.4.x): the
    /// long side resized to `imageSize` (`BaseDataset.load_image`: each side min(ceil(side·r), imageSize), INTER_LINEAR,
    /// nothing when r = 1), then padded, centred, to the rect batch shape ceil(ratio·imageSize/stride + 0.5)·stride
    /// (`set_rectangle` with val's pad 0.5; ratio = [h/w, 1] for landscape, [1, w/h] for portrait) with LetterBox's
    /// round(d/2 ∓ 0.1) split (scaleup=False: no second resize).
    public static func ultralyticsValidationGeometry(width: Int, height: Int, imageSize: Int, stride: Int = 32)
        -> (resizedWidth: Int, resizedHeight: Int, left: Int, top: Int, inputWidth: Int, inputHeight: Int) {
        let r = Double(imageSize) / Double(max(width, height))
        var w = width, h = height
        if r != 1 { w = min(Int((Double(width) * r).rounded(.up)), imageSize); h = min(Int((Double(height) * r).rounded(.up)), imageSize) }
        let aspect = Double(height) / Double(width)
        let shape: (h: Double, w: Double) = aspect < 1 ? (aspect, 1) : aspect > 1 ? (1, 1 / aspect) : (1, 1)
        func side(_ ratio: Double) -> Int { Int((ratio * Double(imageSize) / Double(stride) + 0.5).rounded(.up)) * stride }
        var inputH = side(shape.h), inputW = side(shape.w)
        // LetterBox with scaleup=False never enlarges; the rect shape always holds the resized image (checked).
        inputH = max(inputH, h); inputW = max(inputW, w)
        let dw = Double(inputW - w) / 2, dh = Double(inputH - h) / 2
        return (w, h, Int((dw - 0.1).rounded(.toNearestOrEven)), Int((dh - 0.1).rounded(.toNearestOrEven)), inputW, inputH)
    }

    /// Ultralytics' validation letterbox into an input shaped by `ultralyticsValidationGeometry`: OpenCV-exact bilinear
    /// resize, gray 114. The transform is the dataset's `ratio_pad` (per-axis resized/original, padding): labels go into
    /// the input with it and predictions come back through it (`scale_boxes`).
    public static func ultralyticsValidationLetterbox(_ image: RGBImage, into input: FeatureMap, imageSize: Int) -> InputTransform {
        let g = ultralyticsValidationGeometry(width: image.width, height: image.height, imageSize: imageSize)
        precondition(input.shape.width == g.inputWidth && input.shape.height == g.inputHeight, "validation letterbox: input shape does not match the geometry")
        let resized = (g.resizedWidth, g.resizedHeight) == (image.width, image.height) ? image : resizeBilinear(image, width: g.resizedWidth, height: g.resizedHeight)
        fill(input, with: resized, x: g.left, y: g.top, pad: Float(114) / 255)
        return InputTransform(scaleX: Float(Double(g.resizedWidth) / Double(image.width)), scaleY: Float(Double(g.resizedHeight) / Double(image.height)),
                              padX: Float(g.left), padY: Float(g.top), imageWidth: image.width, imageHeight: image.height)
    }
}
