//! Lookup of transactions by a byte string (a Via branch or a Call-ID).
//!
//! Branches are unique per transaction by RFC 3261 §8.1.1.7, except that an INVITE, its
//! CANCEL and (for non-2xx) its ACK share one, so almost every key names exactly one
//! transaction and is stored without a second allocation.

use std::collections::HashMap;

enum Ids {
    One(u32),
    Many(Vec<u32>),
}

/// A map from byte strings to the slab indices of the transactions they name.
pub(super) struct MultiIndex {
    map: HashMap<Box<[u8]>, Ids>,
}

impl MultiIndex {
    pub(super) fn new() -> MultiIndex {
        MultiIndex {
            map: HashMap::new(),
        }
    }

    /// The indices stored under `key`.
    pub(super) fn get(&self, key: &[u8]) -> &[u32] {
        match self.map.get(key) {
            None => &[],
            Some(Ids::One(id)) => std::slice::from_ref(id),
            Some(Ids::Many(ids)) => ids,
        }
    }

    pub(super) fn insert(&mut self, key: &[u8], id: u32) {
        match self.map.get_mut(key) {
            None => {
                self.map.insert(key.into(), Ids::One(id));
            }
            Some(ids) => match ids {
                Ids::One(first) => *ids = Ids::Many(vec![*first, id]),
                Ids::Many(list) => list.push(id),
            },
        }
    }

    pub(super) fn remove(&mut self, key: &[u8], id: u32) {
        let Some(ids) = self.map.get_mut(key) else {
            return;
        };
        match ids {
            Ids::One(only) if *only == id => {
                self.map.remove(key);
            }
            Ids::One(_) => {}
            Ids::Many(list) => {
                list.retain(|&x| x != id);
                match list.as_slice() {
                    [] => {
                        self.map.remove(key);
                    }
                    [only] => *ids = Ids::One(*only),
                    _ => {}
                }
            }
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_keys_collect_and_shrink() {
        let mut m = MultiIndex::new();
        m.insert(b"z9hG4bK1", 1);
        assert_eq!(m.get(b"z9hG4bK1"), &[1]);
        m.insert(b"z9hG4bK1", 2);
        m.insert(b"z9hG4bK1", 3);
        assert_eq!(m.get(b"z9hG4bK1"), &[1, 2, 3]);
        m.remove(b"z9hG4bK1", 2);
        assert_eq!(m.get(b"z9hG4bK1"), &[1, 3]);
        m.remove(b"z9hG4bK1", 1);
        assert_eq!(m.get(b"z9hG4bK1"), &[3]);
        m.remove(b"z9hG4bK1", 7);
        assert_eq!(m.get(b"z9hG4bK1"), &[3]);
        m.remove(b"z9hG4bK1", 3);
        assert!(m.get(b"z9hG4bK1").is_empty());
        assert_eq!(m.len(), 0);
        m.remove(b"absent", 1);
    }
}
