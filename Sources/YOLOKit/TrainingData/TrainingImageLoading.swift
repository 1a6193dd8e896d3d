/// Ultralytics' `BaseDataset.load_image` for training (rect off, not resizing the short side): the long side
/// resized to `imageSize` keeping the aspect ratio, each side min(ceil(side · r), imageSize) with r = imageSize /
/// long side, OpenCV-exact bilinear (INTER_LINEAR, what training uses); nothing when r = 1. Boxes follow.
public enum TrainingImageLoading {
    public static func resizedSize(width: Int, height: Int, imageSize: Int) -> (width: Int, height: Int) {
        let r = Double(imageSize) / Double(max(width, height))
        guard r != 1 else { return (width, height) }
        return (max(1, min(Int((Double(width) * r).rounded(.up)), imageSize)), max(1, min(Int((Double(height) * r).rounded(.up)), imageSize)))
    }

    /// The image resized as above, its labels (normalized) placed on it.
    public static func load(_ image: RGBImage, labels: [YOLOLabel], imageSize: Int) -> LabelledImage {
        let size = resizedSize(width: image.width, height: image.height, imageSize: imageSize)
        let resized = (size.width, size.height) == (image.width, image.height) ? image : resizeBilinear(image, width: size.width, height: size.height)
        return LabelledImage(image: resized, labels: labels)
    }
}
