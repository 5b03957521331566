import Foundation

/// What makes a run's decisions mean the same children: the space and the
/// images. A run folder records it in search.json; continuing a run and
/// retraining one of its children read it back from there.
public struct ChildShape: Equatable, Sendable {
    public var space: any ImageSpace
    public var image: ImageShape
    public var channels: Int { image.channels }
    public var size: Int { image.size }
    public var classes: Int { image.classes }

    public init(space: any ImageSpace, channels: Int, size: Int, classes: Int) {
        self.space = space
        image = ImageShape(channels: channels, size: size, classes: classes)
    }

    public static func == (a: ChildShape, b: ChildShape) -> Bool { a.difference(from: b) == nil }

    /// The child as IR; `width` scales its channel counts (retraining).
    public func ir(_ choices: [Int], name: String, width: Double = 1) -> String {
        space.ir(choices, name: name, image: image, width: width)
    }

    /// The search.json fields. Folders from before a field existed read as
    /// its old behaviour: a CNN search on 28x28x1 images of 10 classes.
    public var json: [String: Any] {
        space.settings.merging(["channels": channels, "size": size, "classes": classes] as [String: Any]) { a, _ in a }
    }

    public init?(json: [String: Any]) {
        guard let space = imageSpace(json: json) else { return nil }
        self.init(space: space, channels: json["channels"] as? Int ?? 1, size: json["size"] as? Int ?? 28, classes: json["classes"] as? Int ?? 10)
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
        if let d = space.difference(from: now.space) { return d }
        let fields: [(String, Int, Int)] = [("image channels", channels, now.channels), ("image size", size, now.size), ("classes", classes, now.classes)]
        return fields.first { $0.1 != $0.2 }.map { "\($0.0) \($0.1), not \($0.2)" }
    }
}
