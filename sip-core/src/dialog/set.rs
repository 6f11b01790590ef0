//! The dialogs of an element, found by (Call-ID, local tag, remote tag).

use super::{Dialog, DialogId};
use crate::error::{Error, Result};
use crate::message::{Request, Response};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// The three parts of a dialog key, so that a lookup borrows them from a message
/// instead of copying them into a [`DialogId`].
trait KeyView {
    fn parts(&self) -> (&[u8], &[u8], &[u8]);
}

impl KeyView for DialogId {
    fn parts(&self) -> (&[u8], &[u8], &[u8]) {
        (&self.call_id, &self.local_tag, &self.remote_tag)
    }
}

impl KeyView for (&[u8], &[u8], &[u8]) {
    fn parts(&self) -> (&[u8], &[u8], &[u8]) {
        (self.0, self.1, self.2)
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyView + '_ {}

impl Hash for DialogId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The same hash as the borrowed form, as `Borrow` requires.
        (self as &dyn KeyView).hash(state);
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for DialogId {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// Dialogs and the caller's data for each (a call leg, a subscription...).
pub struct Dialogs<T> {
    map: HashMap<DialogId, (Dialog, T)>,
}

impl<T> Default for Dialogs<T> {
    fn default() -> Self {
        Dialogs {
            map: HashMap::new(),
        }
    }
}

impl<T> Dialogs<T> {
    /// No dialogs.
    pub fn new() -> Dialogs<T> {
        Dialogs::default()
    }

    /// How many dialogs there are.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Add a dialog; returns the one it replaces, if its identifiers were taken.
    pub fn insert(&mut self, dialog: Dialog, data: T) -> Option<(Dialog, T)> {
        self.map.insert(dialog.id().clone(), (dialog, data))
    }

    /// The dialog with these identifiers.
    pub fn get(&self, id: &DialogId) -> Option<(&Dialog, &T)> {
        self.map.get(id).map(|(d, t)| (d, t))
    }

    /// The dialog with these identifiers, for changing.
    pub fn get_mut(&mut self, id: &DialogId) -> Option<(&mut Dialog, &mut T)> {
        self.map.get_mut(id).map(|(d, t)| (d, t))
    }

    /// Remove a dialog.
    pub fn remove(&mut self, id: &DialogId) -> Option<(Dialog, T)> {
        self.map.remove(id)
    }

    /// Every dialog.
    pub fn iter(&self) -> impl Iterator<Item = (&Dialog, &T)> {
        self.map.values().map(|(d, t)| (d, t))
    }

    /// Keep the dialogs for which `keep` says so (e.g. drop the Terminated ones).
    pub fn retain(&mut self, mut keep: impl FnMut(&Dialog, &mut T) -> bool) {
        self.map.retain(|_, (d, t)| keep(d, t));
    }

    fn lookup(&mut self, call_id: &[u8], local: &[u8], remote: &[u8]) -> Option<&mut (Dialog, T)> {
        let key: (&[u8], &[u8], &[u8]) = (call_id, local, remote);
        self.map.get_mut(&key as &dyn KeyView)
    }

    /// The dialog of a request received inside one: our tag is its To tag, the peer's
    /// its From tag (RFC 3261 §12.2.2). A request that names no dialog of ours gets
    /// [`Error::NoSuchCallOrTransaction`], answered with 481.
    pub fn find_request_mut(&mut self, request: &Request) -> Result<(&mut Dialog, &mut T)> {
        let h = &request.headers;
        let call_id = h.call_id()?;
        let local = h.to()?.tag().ok_or(Error::NoSuchCallOrTransaction)?;
        let remote = h.from()?.tag().unwrap_or_default();
        self.lookup(call_id, local, remote)
            .map(|(d, t)| (d, t))
            .ok_or(Error::NoSuchCallOrTransaction)
    }

    /// The dialog of a response to a request we sent: our tag is its From tag, the
    /// peer's its To tag. `None` when it names no dialog yet (a first response with a
    /// tag, or a new fork, creates one with [`Dialog::uac`]).
    pub fn find_response_mut(&mut self, response: &Response) -> Option<(&mut Dialog, &mut T)> {
        let h = &response.headers;
        let call_id = h.call_id().ok()?;
        let local = h.from().ok()?.tag()?;
        let remote = h.to().ok()?.tag()?;
        self.lookup(call_id, local, remote).map(|(d, t)| (d, t))
    }
}
