//! Sharding (SPEC §11.3): which accounts an instance polls. An account belongs to shard
//! `fnv1a64(name) % count`, like Prometheus' `hashmod`. The hash is FNV-1a 64 of the
//! UTF-8 bytes of the account name: documented and stable across versions, so an
//! operator (or a script) can compute the split without running the daemon.

/// FNV-1a, 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3). Written out
/// here rather than taken from a crate: it is five lines and its output is a contract.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// `[daemon] shard = { index, count }`: this instance polls shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The shard an account name falls in.
    pub fn of(name: &str, count: u64) -> u64 {
        fnv1a64(name.as_bytes()) % count.max(1)
    }

    /// True when this shard polls the account `name`.
    pub fn owns(&self, name: &str) -> bool {
        Shard::of(name, self.count) == self.index
    }
}

/// True when an instance with `shard` (or none: it owns everything) polls `name`.
pub fn owned(shard: Option<Shard>, name: &str) -> bool {
    shard.is_none_or(|s| s.owns(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published FNV-1a 64 test vectors (Fowler/Noll/Vo, `test_fnv.c`).
    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"b"), 0xaf63df4c8601f1a5);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
        assert_eq!(fnv1a64(b"chongo was here!\n"), 0x46810940eff5f915);
    }

    #[test]
    fn every_account_belongs_to_exactly_one_shard() {
        let names = ["primary", "backup", "acme-mumbai", "ब्रांच", "x"];
        for name in names {
            let owners: Vec<u64> = (0..3)
                .filter(|&index| Shard { index, count: 3 }.owns(name))
                .collect();
            assert_eq!(owners, [Shard::of(name, 3)], "{name}");
        }
        // "a" hashes to 0xaf63dc4c8601ec8c: 12638187200555641996 % 3 == 2.
        assert_eq!(Shard::of("a", 3), 0xaf63dc4c8601ec8c_u64 % 3);
        assert!(owned(None, "anything"));
        assert!(Shard { index: 0, count: 1 }.owns("anything"));
    }
}
