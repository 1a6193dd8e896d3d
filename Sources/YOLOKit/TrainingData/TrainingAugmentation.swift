/// The training transforms of Ultralytics' `v8_transforms`, in its order, for one image of a batch:
///   Mosaic (probability `mosaic`, the image and three others) — else LetterBox to s×s
///   → RandomAffine (border −s/2 after a mosaic, 0 otherwise) → RandomHSV → horizontal flip (probability `fliplr`).
/// Ultralytics draws the three mosaic partners from a buffer of recently loaded images; here they are drawn
/// uniformly from the whole dataset, so that an image's result depends only on its generator.
public struct TrainingAugmentation: Sendable {
    public let settings: AugmentationSettings
    public let imageSize: Int

    public init(settings: AugmentationSettings, imageSize: Int) {
        self.settings = settings
        self.imageSize = imageSize
    }

    /// The training image for sample `index` of `count`; `load` gives a sample resized by `TrainingImageLoading`.
    /// `mosaicAllowed` is false in the last close_mosaic epochs.
    public func make(index: Int, count: Int, mosaicAllowed: Bool, random: inout SplitMix64,
                     load: (Int) throws -> LabelledImage) throws -> LabelledImage {
        let s = imageSize
        var item: LabelledImage
        let affine = RandomAffine(degrees: settings.degrees, translate: settings.translate, scale: settings.scale, shear: settings.shear)
        if mosaicAllowed && settings.mosaic > 0 && random.uniform(0.0, 1.0) < settings.mosaic {
            let partners = (0..<3).map { _ in random.index(below: count) }
            let images = try ([index] + partners).map(load)
            item = Mosaic.combine(images, size: s, random: &random)
            item = affine.apply(item, border: -s / 2, random: &random)
        } else {
            item = SquareLetterbox.apply(try load(index), size: s)
            item = affine.apply(item, border: 0, random: &random)
        }
        HSVAugmentation(hue: settings.hsvH, saturation: settings.hsvS, value: settings.hsvV).apply(&item.image, random: &random)
        if settings.fliplr > 0 && random.uniform(0.0, 1.0) < settings.fliplr { HorizontalFlip.apply(&item) }
        return item
    }
}
