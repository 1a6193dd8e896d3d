import Foundation

/// Ultralytics' `RandomPerspective` without perspective (its default, perspective 0): the affine
///   M = T · S · R · C
/// C moves the image centre to the origin, R rotates by a ∈ U(−degrees, degrees) and scales by
/// s ∈ U(1 − scale, 1 + scale), S shears by tan(U(−shear, shear)°) on each axis, T moves the origin to
/// U(0.5 ± translate) × the output size. The output is the input's size shrunk by `border` on every side
/// (mosaic: border −s/2 turns the 2s canvas into s×s). Pixels are sampled bilinearly at M⁻¹·(x, y), gray 114
/// outside (as cv2.warpAffine; its 5-bit interpolation tables are not reproduced, so pixels may differ by a
/// unit); nothing is warped when M is the identity and there is no border. Boxes: the four corners mapped, their
/// hull clipped to the output, kept only when Ultralytics' `box_candidates` holds (width and height > 2 px,
/// area > 10 % of the scaled original, aspect ratio < 100).
public struct RandomAffine: Sendable {
    public var degrees: Double = 0
    public var translate: Double = 0.1
    public var scale: Double = 0.5
    public var shear: Double = 0

    public init(degrees: Double = 0, translate: Double = 0.1, scale: Double = 0.5, shear: Double = 0) {
        self.degrees = degrees; self.translate = translate; self.scale = scale; self.shear = shear
    }

    /// A 2×3 affine [a b c; d e f] mapping input pixels to output pixels, and the scale it applies.
    public struct Matrix: Equatable, Sendable {
        public var a, b, c, d, e, f: Double
        public static let identity = Matrix(a: 1, b: 0, c: 0, d: 0, e: 1, f: 0)

        /// self · other (other applied first).
        func after(_ o: Matrix) -> Matrix {
            Matrix(a: a * o.a + b * o.d, b: a * o.b + b * o.e, c: a * o.c + b * o.f + c,
                   d: d * o.a + e * o.d, e: d * o.b + e * o.e, f: d * o.c + e * o.f + f)
        }

        func apply(_ x: Double, _ y: Double) -> (Double, Double) { (a * x + b * y + c, d * x + e * y + f) }

        var inverse: Matrix {
            let det = a * e - b * d
            let ia = e / det, ib = -b / det, id = -d / det, ie = a / det
            return Matrix(a: ia, b: ib, c: -(ia * c + ib * f), d: id, e: ie, f: -(id * c + ie * f))
        }
    }

    /// The matrix for an input of `width`×`height` and an output of `outputWidth`×`outputHeight`.
    public func drawMatrix(width: Int, height: Int, outputWidth: Int, outputHeight: Int, random: inout SplitMix64) -> (matrix: Matrix, scale: Double) {
        let center = Matrix(a: 1, b: 0, c: -Double(width) / 2, d: 0, e: 1, f: -Double(height) / 2)
        let angle = random.uniform(-degrees, degrees) * Double.pi / 180
        let s = random.uniform(1 - scale, 1 + scale)
        // cv2.getRotationMatrix2D(center 0, angle, s): [α β; −β α] with α = s·cos, β = s·sin (angle counter-clockwise).
        let alpha = s * cos(angle), beta = s * sin(angle)
        let rotation = Matrix(a: alpha, b: beta, c: 0, d: -beta, e: alpha, f: 0)
        let shearX = tan(random.uniform(-shear, shear) * Double.pi / 180), shearY = tan(random.uniform(-shear, shear) * Double.pi / 180)
        let shearing = Matrix(a: 1, b: shearX, c: 0, d: shearY, e: 1, f: 0)
        let tx = random.uniform(0.5 - translate, 0.5 + translate) * Double(outputWidth)
        let ty = random.uniform(0.5 - translate, 0.5 + translate) * Double(outputHeight)
        let translation = Matrix(a: 1, b: 0, c: tx, d: 0, e: 1, f: ty)
        return (translation.after(shearing).after(rotation).after(center), s)
    }

    /// Warps `input` to its size minus 2·border per side (border may be negative).
    public func apply(_ input: LabelledImage, border: Int, random: inout SplitMix64) -> LabelledImage {
        let outW = input.image.width + 2 * border, outH = input.image.height + 2 * border
        precondition(outW > 0 && outH > 0, "RandomAffine: the border leaves no image")
        let (m, s) = drawMatrix(width: input.image.width, height: input.image.height, outputWidth: outW, outputHeight: outH, random: &random)
        return Self.warp(input, matrix: m, scale: s, outputWidth: outW, outputHeight: outH, skipIdentity: border == 0)
    }

    /// The image and boxes through `matrix` (which scales by `scale`, for the box filter).
    public static func warp(_ input: LabelledImage, matrix m: Matrix, scale: Double, outputWidth outW: Int, outputHeight outH: Int,
                            skipIdentity: Bool = true) -> LabelledImage {
        let image = skipIdentity && m == .identity ? input.image : warpImage(input.image, m, outW, outH)
        var boxes: [LabelledBox] = []
        for box in input.boxes {
            let corners = [(box.x1, box.y1), (box.x2, box.y1), (box.x1, box.y2), (box.x2, box.y2)].map { m.apply(Double($0.0), Double($0.1)) }
            let xs = corners.map(\.0), ys = corners.map(\.1)
            let x1 = min(max(xs.min()!, 0), Double(outW)), x2 = min(max(xs.max()!, 0), Double(outW))
            let y1 = min(max(ys.min()!, 0), Double(outH)), y2 = min(max(ys.max()!, 0), Double(outH))
            let w1 = Double(box.width) * scale, h1 = Double(box.height) * scale
            let w2 = x2 - x1, h2 = y2 - y1
            let eps = 1e-16
            let aspect = max(w2 / (h2 + eps), h2 / (w2 + eps))
            guard w2 > 2, h2 > 2, w2 * h2 / (w1 * h1 + eps) > 0.1, aspect < 100 else { continue }
            boxes.append(LabelledBox(classIndex: box.classIndex, x1: Float(x1), y1: Float(y1), x2: Float(x2), y2: Float(y2)))
        }
        return LabelledImage(image: image, boxes: boxes)
    }

    /// Bilinear sampling of `image` at M⁻¹·(x, y) for every output pixel; gray 114 where the sample falls outside.
    static func warpImage(_ image: RGBImage, _ m: Matrix, _ outW: Int, _ outH: Int) -> RGBImage {
        let inv = m.inverse
        let pad = Float(SquareLetterbox.padValue)
        let w = image.width, h = image.height
        var out = RGBImage(width: outW, height: outH, fill: (SquareLetterbox.padValue, SquareLetterbox.padValue, SquareLetterbox.padValue))
        image.pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                func sample(_ x: Int, _ y: Int, _ c: Int) -> Float {
                    x >= 0 && x < w && y >= 0 && y < h ? Float(src[(y * w + x) * 3 + c]) : pad
                }
                for oy in 0..<outH {
                    for ox in 0..<outW {
                        let (sx, sy) = inv.apply(Double(ox), Double(oy))
                        guard sx > -1, sy > -1, sx < Double(w), sy < Double(h) else { continue }
                        let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
                        let fx = Float(sx - Double(x0)), fy = Float(sy - Double(y0))
                        let o = (oy * outW + ox) * 3
                        for c in 0..<3 {
                            let top = sample(x0, y0, c) * (1 - fx) + sample(x0 + 1, y0, c) * fx
                            let bottom = sample(x0, y0 + 1, c) * (1 - fx) + sample(x0 + 1, y0 + 1, c) * fx
                            dst[o + c] = UInt8(min(max((top * (1 - fy) + bottom * fy).rounded(), 0), 255))
                        }
                    }
                }
            }
        }
        return out
    }
}
