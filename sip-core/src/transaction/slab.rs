//! A slab with generations: transactions live in one vector, are named by index, and a
//! key of a removed transaction never reaches the one that reuses its slot.

use super::types::SlabKey;

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Values in a vector, with a free list of empty slots.
pub(super) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Slab<T> {
    pub(super) fn new() -> Slab<T> {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// How many values are stored.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Store a value built from its own key.
    pub(super) fn insert_with(&mut self, make: impl FnOnce(SlabKey) -> T) -> SlabKey {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            let key = SlabKey {
                index,
                generation: slot.generation,
            };
            slot.value = Some(make(key));
            return key;
        }
        // More than 2^32 live transactions cannot fit in memory anyway.
        let index = self.slots.len() as u32;
        let key = SlabKey {
            index,
            generation: 0,
        };
        self.slots.push(Slot {
            generation: 0,
            value: Some(make(key)),
        });
        key
    }

    pub(super) fn get(&self, key: SlabKey) -> Option<&T> {
        let slot = self.slots.get(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.value.as_ref()
    }

    pub(super) fn get_mut(&mut self, key: SlabKey) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// The value in slot `index`, whatever its generation, with its current key.
    pub(super) fn get_index_mut(&mut self, index: u32) -> Option<(SlabKey, &mut T)> {
        let slot = self.slots.get_mut(index as usize)?;
        let key = SlabKey {
            index,
            generation: slot.generation,
        };
        slot.value.as_mut().map(|v| (key, v))
    }

    /// The value in slot `index`, whatever its generation.
    pub(super) fn get_index(&self, index: u32) -> Option<&T> {
        self.slots.get(index as usize)?.value.as_ref()
    }

    pub(super) fn remove(&mut self, key: SlabKey) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_slots_do_not_answer_old_keys() {
        let mut s = Slab::new();
        let a = s.insert_with(|_| "a");
        let b = s.insert_with(|_| "b");
        assert_eq!(s.len(), 2);
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.remove(a), None);
        let c = s.insert_with(|k| {
            assert_eq!(k.index, a.index);
            "c"
        });
        assert_eq!(c.index, a.index);
        assert_ne!(c, a);
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(c), Some(&"c"));
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.get_index(a.index), Some(&"c"));
        if let Some(v) = s.get_mut(b) {
            *v = "B";
        }
        assert_eq!(
            s.get_index_mut(b.index).map(|(k, v)| (k, *v)),
            Some((b, "B"))
        );
        assert_eq!(s.len(), 2);
        assert!(s.get_index(99).is_none());
    }
}
