import Foundation

/// The image datasets nasc reads, each from a folder of files in its
/// official format. A search records the name and folder, so a worker
/// process (or another machine) loads the same images.
public enum DatasetName: String, CaseIterable, Sendable {
    case fashionMNIST = "fashion-mnist", mnist, cifar10

    public var defaultDirectory: String {
        switch self {
        case .fashionMNIST: return "/usr/share/datasets/fashion-mnist"
        case .mnist: return "/usr/share/datasets/mnist"
        case .cifar10: return "cifar-10-batches-bin"
        }
    }

    /// Training and test splits from `directory` (default: where Debian's
    /// package puts them); a missing or corrupt file is a DatasetError naming it.
    public func load(_ directory: String?) throws -> (train: ImageDataset, test: ImageDataset) {
        let dir = directory ?? defaultDirectory
        switch self {
        case .fashionMNIST, .mnist:
            func file(_ base: String) -> String {
                let gz = "\(dir)/\(base).gz"
                return FileManager.default.fileExists(atPath: gz) ? gz : "\(dir)/\(base)"
            }
            return (try IDX.load(images: file("train-images-idx3-ubyte"), labels: file("train-labels-idx1-ubyte")),
                    try IDX.load(images: file("t10k-images-idx3-ubyte"), labels: file("t10k-labels-idx1-ubyte")))
        case .cifar10:
            return (try CIFAR10.load(directory: dir), try CIFAR10.load(directory: dir, test: true))
        }
    }

    /// The training split `full` of this dataset with its last `validation`
    /// images held out; an error naming `flag` when that leaves no training image.
    public func holdOut(_ validation: Int, of full: ImageDataset, flag: String, folder: String?) throws -> (train: ImageDataset, validation: ImageDataset) {
        guard validation < full.count else {
            throw DatasetError(folder ?? defaultDirectory, "\(flag) \(validation) holds out every training image: the training split of \(rawValue) has \(full.count); use at most \(full.count - 1)")
        }
        return full.split(validation: validation)
    }
}

/// The images a search trains and rewards its children on: the first
/// `trainImages` of a dataset's training split, and its last
/// `validationImages` held out for rewards (the test split is never used).
public struct SearchImages: Equatable, Sendable {
    public var dataset: DatasetName
    /// nil: the dataset's default folder.
    public var folder: String?
    public var trainImages: Int
    public var validationImages: Int

    public init(dataset: DatasetName, folder: String?, trainImages: Int, validationImages: Int) {
        self.dataset = dataset
        self.folder = folder
        self.trainImages = trainImages
        self.validationImages = validationImages
    }

    public func load() throws -> (train: ImageDataset, validation: ImageDataset) {
        let (train, validation, _) = try load(unused: 0)
        return (train, validation)
    }

    /// Also up to `unused` images that neither train nor reward any child:
    /// the last of those between the training images and the validation
    /// ones (nil if there are none).
    public func load(unused: Int) throws -> (train: ImageDataset, validation: ImageDataset, unused: ImageDataset?) {
        let (rest, validation) = try dataset.holdOut(validationImages, of: try dataset.load(folder).train, flag: "--validation-images", folder: folder)
        let train = rest.subset(0..<min(trainImages, rest.count))
        let spare = max(train.count, rest.count - unused)..<rest.count
        return (train, validation, spare.isEmpty ? nil : rest.subset(spare))
    }

    public var json: [String: Any] {
        ["dataset": dataset.rawValue, "data": folder ?? "", "train_images": trainImages, "validation_images": validationImages]
    }

    public init?(json: [String: Any]) {
        guard let name = (json["dataset"] as? String).flatMap(DatasetName.init(rawValue:)),
              let train = json["train_images"] as? Int, let validation = json["validation_images"] as? Int else { return nil }
        let folder = json["data"] as? String ?? ""
        self.init(dataset: name, folder: folder.isEmpty ? nil : folder, trainImages: train, validationImages: validation)
    }
}
