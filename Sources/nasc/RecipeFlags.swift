import ArgumentParser
import NascTraining

/// The recipe for training a network to the end (train, retrain): random
/// changes to training images, label smoothing and drop-path. All off by default, so
/// a run without these flags trains exactly as before they existed.
struct RecipeFlags: ParsableArguments {
    @Option(name: .customLong("crop-padding"), help: "Random crops of each training image zero-padded by this many pixels per side (0: off; 2-4 is usual at 28x28).")
    var cropPadding = 0

    @Flag(help: "Flip training images horizontally at random.")
    var flip = false

    @Option(help: "Cutout: zero a square of this side at a random place in each training image (0: off).")
    var cutout = 0

    @Option(name: .customLong("label-smoothing"), help: "Label smoothing ε of the training loss: 1 - ε on the label, ε / classes on every class (0: off; 0.1 is usual).")
    var labelSmoothing = 0.0

    @Option(name: .customLong("drop-path"), help: "Drop-path rate at the end of training, rising linearly from 0 (NASNet's schedule): each path into a sum (a cell's block operations, a residual branch) is zeroed for a whole example with this probability (0: off; 0.1-0.3 is usual for cells).")
    var dropPath = 0.0

    func validate() throws {
        try FlagCheck.real(dropPath, "--drop-path", atLeast: 0, below: 1)
        try FlagCheck.int(cropPadding, "--crop-padding", 0...64)
        try FlagCheck.int(cutout, "--cutout", 0...4096)
        try FlagCheck.real(labelSmoothing, "--label-smoothing", atLeast: 0, below: 1)
    }

    var augmentation: Augmentation { Augmentation(cropPadding: cropPadding, flip: flip, cutout: cutout) }

    /// The recipe beyond the augmentation, as the training prints it.
    var regularization: String { "label smoothing \(labelSmoothing)" + (dropPath > 0 ? ", drop-path \(dropPath) (scheduled)" : "") }
}
