import NascSearch
import XCTest

/// Kendall's tau-b and Spearman's rho against hand-computed values, ties
/// included, and the spread sample of a ranking.
final class RankCorrelationTests: XCTestCase {
    func testKnownValues() throws {
        let x: [Double] = [1, 2, 3, 4, 5]
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.kendall(x, x)), 1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman(x, x.reversed())), -1, accuracy: 1e-12)
        // Two swapped neighbours: 8 concordant and 2 discordant pairs of 10;
        // rank differences squared sum to 4, so rho = 1 - 6*4 / (5*24).
        let y: [Double] = [2, 1, 4, 3, 5]
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.kendall(x, y)), 0.6, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman(x, y)), 0.8, accuracy: 1e-12)
        // A tie in x: 5 concordant pairs, none discordant, one pair tied in
        // x: tau-b = 5 / sqrt(5 * 6); ranks (1, 2.5, 2.5, 4) and (1, 3, 2, 4)
        // give rho = 4.5 / sqrt(4.5 * 5).
        let tx: [Double] = [1, 2, 2, 3], ty: [Double] = [1, 3, 2, 4]
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.kendall(tx, ty)), 5 / 30.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman(tx, ty)), 4.5 / 22.5.squareRoot(), accuracy: 1e-12)
        // Scale does not matter, only order.
        XCTAssertEqual(try XCTUnwrap(RankCorrelation.spearman(x.map { $0 * $0 * 1e-4 }, y.map { 0.9 + $0 / 100 })), 0.8, accuracy: 1e-12)
    }

    func testUndefinedCasesAreNil() {
        XCTAssertNil(RankCorrelation.kendall([1], [2]))
        XCTAssertNil(RankCorrelation.spearman([1], [2]))
        XCTAssertNil(RankCorrelation.kendall([1, 2, 3], [5, 5, 5]))
        XCTAssertNil(RankCorrelation.spearman([1, 2, 3], [5, 5, 5]))
    }

    func testSpreadSpansTheRanking() {
        let ranked = Array(0..<10)
        XCTAssertEqual(RankCorrelation.spread(ranked, count: 4), [0, 3, 6, 9])
        XCTAssertEqual(RankCorrelation.spread(ranked, count: 2), [0, 9])
        XCTAssertEqual(RankCorrelation.spread(ranked, count: 1), [0])
        XCTAssertEqual(RankCorrelation.spread(ranked, count: 10), ranked)
        XCTAssertEqual(RankCorrelation.spread(ranked, count: 30), ranked)
        XCTAssertEqual(Set(RankCorrelation.spread(Array(0..<21), count: 20)).count, 20, "no child twice")
    }
}
