import Foundation
import Testing

@testable import Core

/// Vectors made by `mmh3` (a binding of the reference MurmurHash3.cpp) through
/// Tests/Fixtures/generate_murmur3.py; the control plane and the sidecar must agree bit for bit.
@Suite("Flag bucketing")
struct FlagEvaluatorTests {
    struct Fixture: Decodable {
        struct Vector: Decodable {
            let input: String
            let seed: UInt32
            let hash: UInt32
        }

        let vectors: [Vector]
        let orders_v2_buckets: [String: Int]
    }

    static let fixture: Fixture = {
        let url = Fixtures.root.appendingPathComponent("murmur3.json")
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    @Test("murmur3_x86_32 matches the reference implementation")
    func referenceVectors() {
        #expect(Self.fixture.vectors.count >= 16)
        for vector in Self.fixture.vectors {
            #expect(Murmur3.x86_32(vector.input, seed: vector.seed) == vector.hash, "\(vector.input) seed \(vector.seed)")
        }
        // Published values, independent of the fixture.
        #expect(Murmur3.x86_32("", seed: 1) == 0x514E_28B7)
        #expect(Murmur3.x86_32("", seed: 0xFFFF_FFFF) == 0x81F1_6F39)
    }

    @Test("buckets match the reference for 1,000 subjects")
    func buckets() {
        for (subject, bucket) in Self.fixture.orders_v2_buckets {
            #expect(FlagEvaluator.bucket(flag: "orders-v2", subject: subject) == bucket)
        }
    }

    @Test("raising the rollout only adds subjects, and about the right share is on")
    func stickiness() {
        let subjects = Array(Self.fixture.orders_v2_buckets.keys)
        var previous: Set<String> = []
        for rollout in stride(from: 0, through: 100, by: 5) {
            let on = Set(subjects.filter { FlagEvaluator.isOn(enabled: true, rollout: rollout, flag: "orders-v2", subject: $0) })
            #expect(previous.isSubset(of: on), "rollout \(rollout) dropped subjects")
            #expect(abs(on.count - rollout * 10) <= 60, "rollout \(rollout): \(on.count) of 1000")
            previous = on
        }
        #expect(previous.count == subjects.count)
        #expect(!FlagEvaluator.isOn(enabled: false, rollout: 100, flag: "orders-v2", subject: "user-1"))
    }
}
