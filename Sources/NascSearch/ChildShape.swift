import Foundation

/// What makes a run's decisions mean the same children: the space and the
/// images. A run folder records it in search.json; continuing a run and
/// retraining one of its children read it back from there.
public struct ChildShape: Equatable, Sendable {
    public var space: CNNSpace
    public var channels: Int, size: Int, classes: Int

    public init(space: CNNSpace, channels: Int, size: Int, classes: Int) {
        self.space = space
        self.channels = channels
        self.size = size
        self.classes = classes
    }

    /// The child as IR; `width` scales every layer's filter count (retraining).
    public func ir(_ choices: [Int], name: String, width: Double = 1) -> String {
        space.ir(choices, name: name, channels: channels, size: size, classes: classes, width: width)
    }

    /// The search.json fields. Folders from before a field existed read as
    /// its old behaviour: no pooling, no strides, 28x28x1 images, 10 classes.
    public var json: [String: Any] {
        ["layers": space.layers, "strides": space.strides, "pool_every": space.poolEvery, "chain": space.chain,
         "separable": space.separable, "channels": channels, "size": size, "classes": classes]
    }

    public init?(json: [String: Any]) {
        // A cell search's "layers" are its proxy language model's.
        guard let layers = json["layers"] as? Int, json["space"] as? String != "rnn-cell" else { return nil }
        self.init(space: CNNSpace(layers: layers, strides: json["strides"] as? Bool ?? false, poolEvery: json["pool_every"] as? Int ?? 0,
                                       chain: json["chain"] as? Bool ?? false, separable: json["separable"] as? Bool ?? false),
                  channels: json["channels"] as? Int ?? 1, size: json["size"] as? Int ?? 28, classes: json["classes"] as? Int ?? 10)
    }

    /// The settings `directory`/search.json records, if it is readable.
    static func recordedSettings(in directory: String) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: "\(directory)/search.json") else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    /// The shape recorded in `directory`/search.json, if it is readable.
    public static func recorded(in directory: String) -> ChildShape? {
        recordedSettings(in: directory).flatMap(ChildShape.init(json:))
    }

    /// The first setting that differs, as "FLAG old, not new".
    public func difference(from now: ChildShape) -> String? {
        let fields: [(String, Int, Int)] = [
            ("--layers", space.layers, now.space.layers), ("--pool-every", space.poolEvery, now.space.poolEvery),
            ("--strides", space.strides ? 1 : 0, now.space.strides ? 1 : 0), ("--chain", space.chain ? 1 : 0, now.space.chain ? 1 : 0),
            ("--separable", space.separable ? 1 : 0, now.space.separable ? 1 : 0),
            ("image channels", channels, now.channels),
            ("image size", size, now.size), ("classes", classes, now.classes)]
        return fields.first { $0.1 != $0.2 }.map { "\($0.0) \($0.1), not \($0.2)" }
    }
}
