//! The in-memory location service: bindings by AOR, by id, and by expiry and qualify
//! time. It is the truth for lookups; the database follows it.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::binding::{Binding, BindingId};
use crate::extension::Extension;

/// Every binding, indexed four ways. Every method keeps the indexes consistent; the
/// schedules are keyed by `(time, id)` so two bindings due at the same instant coexist.
#[derive(Default)]
pub(crate) struct Location {
    aors: HashMap<Extension, Vec<Binding>>,
    by_id: HashMap<BindingId, Extension>,
    expiry: BTreeMap<(Instant, BindingId), Extension>,
    qualify: BTreeMap<(Instant, BindingId), Extension>,
    next_id: u64,
}

impl Location {
    /// A fresh id.
    pub(crate) fn next_id(&mut self) -> BindingId {
        self.next_id += 1;
        BindingId(self.next_id)
    }

    /// How many bindings there are.
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The bindings of one AOR, in the order they were added.
    pub(crate) fn bindings(&self, ext: Extension) -> &[Binding] {
        self.aors.get(&ext).map_or(&[], Vec::as_slice)
    }

    /// Every binding, AOR by AOR.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Binding> {
        self.aors.values().flatten()
    }

    /// The AORs that have at least one binding.
    pub(crate) fn extensions(&self) -> impl Iterator<Item = Extension> + '_ {
        self.aors.keys().copied()
    }

    /// One binding by id.
    pub(crate) fn get(&self, id: BindingId) -> Option<&Binding> {
        let ext = self.by_id.get(&id)?;
        self.bindings(*ext).iter().find(|b| b.id == id)
    }

    /// Adds a binding (its id from [`Location::next_id`]) and schedules it.
    pub(crate) fn insert(&mut self, binding: Binding) {
        let (id, ext) = (binding.id, binding.extension);
        self.expiry.insert((binding.expires_at, id), ext);
        if let Some(due) = binding.qualify_due {
            self.qualify.insert((due, id), ext);
        }
        self.by_id.insert(id, ext);
        self.aors.entry(ext).or_default().push(binding);
    }

    /// Changes a binding through `f`, moving it in the schedules if its expiry or qualify
    /// time changed. Returns the binding as changed.
    pub(crate) fn update(
        &mut self,
        id: BindingId,
        f: impl FnOnce(&mut Binding),
    ) -> Option<&Binding> {
        let ext = *self.by_id.get(&id)?;
        let list = self.aors.get_mut(&ext)?;
        let b = list.iter_mut().find(|b| b.id == id)?;
        let (old_expiry, old_due) = (b.expires_at, b.qualify_due);
        f(b);
        if b.expires_at != old_expiry {
            self.expiry.remove(&(old_expiry, id));
            self.expiry.insert((b.expires_at, id), ext);
        }
        if b.qualify_due != old_due {
            if let Some(old) = old_due {
                self.qualify.remove(&(old, id));
            }
            if let Some(new) = b.qualify_due {
                self.qualify.insert((new, id), ext);
            }
        }
        Some(b)
    }

    /// Removes a binding from every index.
    pub(crate) fn remove(&mut self, id: BindingId) -> Option<Binding> {
        let ext = self.by_id.remove(&id)?;
        let list = self.aors.get_mut(&ext)?;
        let at = list.iter().position(|b| b.id == id)?;
        let b = list.remove(at);
        if list.is_empty() {
            self.aors.remove(&ext);
        }
        self.expiry.remove(&(b.expires_at, id));
        if let Some(due) = b.qualify_due {
            self.qualify.remove(&(due, id));
        }
        Some(b)
    }

    /// The earliest expiry.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.expiry.first_key_value().map(|((at, _), _)| *at)
    }

    /// Removes and returns one binding whose expiry is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Binding> {
        let (&(at, id), _) = self.expiry.first_key_value()?;
        if at > now {
            return None;
        }
        self.remove(id)
    }

    /// The earliest qualify time.
    pub(crate) fn next_qualify(&self) -> Option<Instant> {
        self.qualify.first_key_value().map(|((at, _), _)| *at)
    }

    /// The id of one binding whose qualify time is at or before `now`.
    pub(crate) fn qualify_due(&mut self, now: Instant) -> Option<BindingId> {
        loop {
            let (&(at, id), _) = self.qualify.first_key_value()?;
            if at > now {
                return None;
            }
            if self.by_id.contains_key(&id) {
                return Some(id);
            }
            // Removal unschedules, so this cannot happen; if it did, a stale entry must
            // not stall the schedule (or make the caller spin on a past deadline).
            self.qualify.remove(&(at, id));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sip_core::Uri;
    use sip_core::transaction::Peer;
    use std::time::Duration;

    fn binding(loc: &mut Location, ext: u16, at: Instant, expires: u64) -> Binding {
        Binding {
            id: loc.next_id(),
            extension: Extension::new(ext).unwrap(),
            contact: Uri::parse_str("sip:a@192.0.2.1").unwrap(),
            q: None,
            call_id: "c".into(),
            cseq: 1,
            expires_at: at + Duration::from_secs(expires),
            registered_at: at,
            updated_at: at,
            source: Peer::udp("192.0.2.1:5060".parse().unwrap()),
            user_agent: None,
            reachable: true,
            qualify_pending: false,
            qualify_due: Some(at + Duration::from_secs(30)),
        }
    }

    #[test]
    fn indexes_follow_insert_update_remove() {
        let t0 = Instant::now();
        let mut loc = Location::default();
        let a = binding(&mut loc, 6001, t0, 60);
        let b = binding(&mut loc, 6001, t0, 120);
        let c = binding(&mut loc, 7001, t0, 10);
        let (ida, idb, idc) = (a.id, b.id, c.id);
        for x in [a, b, c] {
            loc.insert(x);
        }
        assert_eq!(loc.len(), 3);
        assert_eq!(loc.bindings(Extension::new(6001).unwrap()).len(), 2);
        assert_eq!(loc.next_expiry(), Some(t0 + Duration::from_secs(10)));
        loc.update(idc, |b| {
            b.expires_at = t0 + Duration::from_secs(500);
            b.qualify_due = None;
        });
        assert_eq!(loc.next_expiry(), Some(t0 + Duration::from_secs(60)));
        assert!(loc.pop_expired(t0 + Duration::from_secs(59)).is_none());
        assert_eq!(
            loc.pop_expired(t0 + Duration::from_secs(60)).map(|b| b.id),
            Some(ida)
        );
        assert_eq!(loc.qualify_due(t0 + Duration::from_secs(30)), Some(idb));
        assert_eq!(loc.qualify_due(t0 + Duration::from_secs(29)), None);
        assert!(loc.remove(idb).is_some());
        assert!(loc.get(idb).is_none());
        assert_eq!(loc.next_qualify(), None);
        assert!(loc.bindings(Extension::new(6001).unwrap()).is_empty());
        assert_eq!(loc.extensions().count(), 1);
        assert_eq!(loc.len(), 1);
    }
}
