/// The augmentation hyperparameters of a training run, by Ultralytics' names (cfg/default.yaml) and defaults.
public struct AugmentationSettings: Equatable, Sendable {
    /// hsv_h, hsv_s, hsv_v: the largest hue / saturation / value gains.
    public var hsvH = 0.015, hsvS = 0.7, hsvV = 0.4
    /// degrees, translate, scale, shear: the random affine's ranges.
    public var degrees = 0.0, translate = 0.1, scale = 0.5, shear = 0.0
    /// fliplr: probability of a left–right flip.
    public var fliplr = 0.5
    /// mosaic: probability of a 4-image mosaic (until the last `close_mosaic` epochs).
    public var mosaic = 1.0

    public init() {}

    /// Everything off: the image letterboxed, nothing random (validation-like training input).
    public static let none: AugmentationSettings = {
        var s = AugmentationSettings()
        s.hsvH = 0; s.hsvS = 0; s.hsvV = 0; s.translate = 0; s.scale = 0; s.fliplr = 0; s.mosaic = 0
        return s
    }()
}
