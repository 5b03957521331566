/// A dataset file that cannot be used, with the file and what is wrong.
public struct DatasetError: Error, CustomStringConvertible {
    public var file: String
    public var problem: String
    public init(_ file: String, _ problem: String) {
        self.file = file
        self.problem = problem
    }
    public var description: String { "\(file): error: \(problem)" }
}
