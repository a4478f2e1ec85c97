import Synchronization

/// Token buckets kept in this process: the store without `--redis`, and for `local: true` limits.
/// Process-wide and exact across event loops, without a lock on the request path: each bucket's
/// whole state is one atomic word (its GCRA `tat`, see `TokenBucket`), updated by compare-and-swap.
/// Each event loop keeps its own `InProcessBuckets.LoopView`, a plain dictionary from key to bucket;
/// only a key that loop has not seen yet goes to the shared registry, under a mutex.
///
/// Memory stays bounded by activity: a bucket whose `tat` has passed is full, the same as no bucket,
/// so `sweep` retires it (an atomic swap to a tombstone, so a loop still holding it notices) and
/// drops it from the registry.
public final class InProcessBuckets: Sendable {
    /// One bucket's state: the bit pattern of its `tat` (microseconds), or `retired`.
    public final class Bucket: Sendable {
        static let retired = UInt64.max
        let state = Atomic<UInt64>(Double(0).bitPattern)
    }

    private let registry = Mutex<[String: Bucket]>([:])

    public init() {}

    /// Buckets in the registry (for metrics and tests).
    public var count: Int { registry.withLock { $0.count } }

    /// The registry's bucket for `key`, made if needed (never a retired one).
    func shared(_ key: String) -> Bucket {
        registry.withLock { buckets in
            if let bucket = buckets[key], bucket.state.load(ordering: .acquiring) != Bucket.retired { return bucket }
            let bucket = Bucket()
            buckets[key] = bucket
            return bucket
        }
    }

    /// Retires and forgets every bucket that is full at `now` (its `tat` has passed).
    @discardableResult
    public func sweep(now: Double) -> Int {
        registry.withLock { buckets in
            var removed = 0
            for (key, bucket) in buckets {
                let current = bucket.state.load(ordering: .acquiring)
                if current != Bucket.retired, Double(bitPattern: current) > now { continue }
                if current == Bucket.retired
                    || bucket.state.compareExchange(expected: current, desired: Bucket.retired, ordering: .acquiringAndReleasing).exchanged {
                    buckets[key] = nil
                    removed += 1
                }
            }
            return removed
        }
    }

    /// One event loop's view: its cache of key → bucket. Not thread-safe; one per loop.
    public final class LoopView {
        public let store: InProcessBuckets
        private var cache: [String: Bucket] = [:]

        public init(store: InProcessBuckets) {
            self.store = store
        }

        /// Checks and takes from every bucket at once: all admit, or none is charged.
        /// Returns one outcome per request, in order; after the first refusal the rest are only looked at.
        public func take(_ requests: [(key: String, bucket: TokenBucket)], now: Double) -> [TokenBucket.Outcome] {
            var outcomes: [TokenBucket.Outcome] = []
            outcomes.reserveCapacity(requests.count)
            var charged: [(Bucket, TokenBucket)] = []
            var refused = false
            for request in requests {
                if refused {
                    outcomes.append(peek(resolve(request.key), request.bucket, now: now))
                    continue
                }
                let (bucket, outcome) = charge(request.key, request.bucket, now: now)
                if outcome.allowed { charged.append((bucket, request.bucket)) } else { refused = true }
                outcomes.append(outcome)
            }
            guard refused else { return outcomes }
            // A refused request takes nothing: give back what the earlier buckets gave.
            for (bucket, parameters) in charged { refund(bucket, parameters) }
            // The earlier outcomes still say `allowed`; callers report the refusing limit only.
            return outcomes
        }

        /// Gives back what an admitted `take` charged (when another store then refused the request).
        public func refund(_ requests: [(key: String, bucket: TokenBucket)]) {
            for request in requests { refund(resolve(request.key), request.bucket) }
        }

        /// Drops cached buckets that were retired (call now and then, e.g. after `sweep`).
        public func prune() {
            cache = cache.filter { $0.value.state.load(ordering: .relaxed) != Bucket.retired }
        }

        private func resolve(_ key: String) -> Bucket {
            if let bucket = cache[key], bucket.state.load(ordering: .relaxed) != Bucket.retired { return bucket }
            let bucket = store.shared(key)
            cache[key] = bucket
            return bucket
        }

        /// Takes from `key`'s bucket by compare-and-swap; a bucket retired meanwhile is replaced.
        private func charge(_ key: String, _ parameters: TokenBucket, now: Double) -> (Bucket, TokenBucket.Outcome) {
            var bucket = resolve(key)
            var current = bucket.state.load(ordering: .acquiring)
            while true {
                if current == Bucket.retired {
                    cache[key] = nil
                    bucket = resolve(key)
                    current = bucket.state.load(ordering: .acquiring)
                    continue
                }
                let outcome = parameters.take(tat: Double(bitPattern: current), now: now)
                guard outcome.allowed else { return (bucket, outcome) }
                let (exchanged, original) = bucket.state.compareExchange(
                    expected: current, desired: outcome.newTAT.bitPattern, ordering: .acquiringAndReleasing)
                if exchanged { return (bucket, outcome) }
                current = original
            }
        }

        private func peek(_ bucket: Bucket, _ parameters: TokenBucket, now: Double) -> TokenBucket.Outcome {
            let current = bucket.state.load(ordering: .acquiring)
            return parameters.take(tat: current == Bucket.retired ? nil : Double(bitPattern: current), now: now)
        }

        private func refund(_ bucket: Bucket, _ parameters: TokenBucket) {
            var current = bucket.state.load(ordering: .acquiring)
            while current != Bucket.retired {
                let restored = Double(bitPattern: current) - parameters.cost * parameters.interval
                let (exchanged, original) = bucket.state.compareExchange(
                    expected: current, desired: restored.bitPattern, ordering: .acquiringAndReleasing)
                if exchanged { return }
                current = original
            }
        }
    }
}
