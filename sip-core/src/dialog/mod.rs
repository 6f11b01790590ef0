//! Dialogs (RFC 3261 §12): the peer-to-peer relationship an INVITE (or SUBSCRIBE)
//! creates, with its identifiers, sequence numbers, route set and remote target.
//!
//! A [`Dialog`] is built on the UAC side from the request and a 1xx (with a To tag) or
//! 2xx response ([`Dialog::uac`]), and on the UAS side from the request and the local tag
//! ([`Dialog::uas`]). It builds the requests sent inside it ([`Dialog::create_request`],
//! [`Dialog::create_ack`]), checks the requests received in it
//! ([`Dialog::handle_request`]: CSeq order, target refresh) and follows its responses.
//! [`Dialogs`] finds the dialog of an in-dialog request, or answers 481.

mod request;
mod set;

pub use set::Dialogs;

use crate::error::{Error, Result};
use crate::header::{Contacts, HeaderName, NameAddr};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::status::StatusCode;
use crate::uri::{Scheme, Uri};
use bytes::Bytes;

/// What identifies a dialog at one end (RFC 3261 §12): the Call-ID, the local tag and the
/// remote tag. The same dialog has the tags swapped at the other end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: Bytes,
    /// Our tag (From of our requests).
    pub local_tag: Bytes,
    /// The peer's tag; empty for an RFC 2543 peer that sent none (§12.1.1: "null").
    pub remote_tag: Bytes,
}

/// The state of a dialog (RFC 3261 §12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DialogState {
    /// Created by a provisional response; ends if the initial request fails.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// Ended: a non-2xx final response to the initial request, or a 481/408 to a
    /// request inside it (§12.2.1.2). Remove it from its [`Dialogs`].
    Terminated,
}

/// Which side of the dialog this element is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that sent the initial request.
    Uac,
    /// The side that answered it.
    Uas,
}

/// One dialog, at one end.
#[derive(Clone, Debug)]
pub struct Dialog {
    id: DialogId,
    role: Role,
    state: DialogState,
    local_seq: Option<u32>,
    remote_seq: Option<u32>,
    local_uri: NameAddr,
    remote_uri: NameAddr,
    remote_target: Uri,
    route_set: Vec<NameAddr>,
    secure: bool,
    local_contact: Option<NameAddr>,
    initial_seq: u32,
    initial_method: Method,
}

/// Requests that replace the remote target with their Contact: re-INVITE (RFC 3261
/// §12.2), UPDATE (RFC 3311 §5.2), SUBSCRIBE and NOTIFY (RFC 6665 §4.1.2.2, §4.1.3).
pub fn is_target_refresh(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify
    )
}

fn first_contact(headers: &crate::header::Headers) -> Result<Option<&NameAddr>> {
    match headers.contacts()? {
        Contacts::List(list) => Ok(list.first().copied()),
        Contacts::Star => Err(Error::InvalidHeader {
            name: "Contact",
            reason: "'*' is not a target",
        }),
    }
}

/// A copy of an address in its own buffer. Dialogs last as long as calls; an address
/// that slices the received message would keep the whole datagram alive that long.
fn owned_addr(a: &NameAddr) -> NameAddr {
    NameAddr::parse_single(&Bytes::copy_from_slice(a.as_bytes()), "address")
        .unwrap_or_else(|_| a.clone())
}

/// A copy of a URI in its own buffer (see [`owned_addr`]).
fn owned_uri(u: &Uri) -> Uri {
    Uri::parse(Bytes::copy_from_slice(u.as_bytes())).unwrap_or_else(|_| u.clone())
}

fn tag_bytes(tag: Option<&[u8]>) -> Bytes {
    tag.map(Bytes::copy_from_slice).unwrap_or_default()
}

impl Dialog {
    /// The UAC side of a dialog, from the request it sent and a response carrying a To
    /// tag: 101–199 makes an early dialog, 2xx a confirmed one (RFC 3261 §12.1.2). The
    /// route set is the response's Record-Route in reverse order; the remote target is
    /// its Contact (a 2xx must have one; a provisional without one keeps the
    /// Request-URI).
    pub fn uac(request: &Request, response: &Response) -> Result<Dialog> {
        let status = response.status;
        if !(status.as_u16() > 100 && status.as_u16() < 300) {
            return Err(Error::OutOfRange("dialog-creating status"));
        }
        let to = response.headers.to()?;
        let remote_tag = to.tag().ok_or(Error::InvalidHeader {
            name: "To",
            reason: "a dialog-creating response needs a tag",
        })?;
        let from = request.headers.from()?;
        let local_tag = from.tag().ok_or(Error::InvalidHeader {
            name: "From",
            reason: "a UAC must tag its From (RFC 3261 §8.1.1.3)",
        })?;
        let remote_target = match first_contact(&response.headers)? {
            Some(c) => owned_uri(c.uri()),
            None if status.is_provisional() => owned_uri(&request.uri),
            None => return Err(Error::MissingHeader("Contact")),
        };
        let mut route_set: Vec<NameAddr> = response
            .headers
            .addr_list(&HeaderName::RecordRoute)?
            .into_iter()
            .map(owned_addr)
            .collect();
        route_set.reverse();
        let cseq = request.headers.cseq()?;
        Ok(Dialog {
            id: DialogId {
                call_id: Bytes::copy_from_slice(request.headers.call_id()?),
                local_tag: Bytes::copy_from_slice(local_tag),
                remote_tag: Bytes::copy_from_slice(remote_tag),
            },
            role: Role::Uac,
            state: if status.is_success() {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_seq: Some(cseq.seq),
            remote_seq: None,
            local_uri: owned_addr(from),
            remote_uri: owned_addr(to),
            remote_target,
            route_set,
            secure: request.uri.scheme() == Scheme::Sips,
            local_contact: first_contact(&request.headers)?.map(owned_addr),
            initial_seq: cseq.seq,
            initial_method: cseq.method.clone(),
        })
    }

    /// The UAS side of a dialog, from the request that creates it and the tag this UAS
    /// puts in its responses (RFC 3261 §12.1.1). It starts Early; the 2xx that
    /// [`Dialog::handle_sent_response`] sees confirms it. The route set is the
    /// request's Record-Route in order; the remote target is its Contact.
    pub fn uas(request: &Request, local_tag: &str) -> Result<Dialog> {
        let from = request.headers.from()?;
        let to = request.headers.to()?;
        let remote_target = first_contact(&request.headers)?
            .ok_or(Error::MissingHeader("Contact"))?
            .uri();
        let remote_target = owned_uri(remote_target);
        let route_set = request
            .headers
            .addr_list(&HeaderName::RecordRoute)?
            .into_iter()
            .map(owned_addr)
            .collect();
        let cseq = request.headers.cseq()?;
        Ok(Dialog {
            id: DialogId {
                call_id: Bytes::copy_from_slice(request.headers.call_id()?),
                local_tag: Bytes::copy_from_slice(local_tag.as_bytes()),
                remote_tag: tag_bytes(from.tag()),
            },
            role: Role::Uas,
            state: DialogState::Early,
            local_seq: None,
            remote_seq: Some(cseq.seq),
            local_uri: to.with_param("tag", Some(local_tag)),
            remote_uri: owned_addr(from),
            remote_target,
            route_set,
            secure: request.uri.scheme() == Scheme::Sips,
            local_contact: None,
            initial_seq: cseq.seq,
            initial_method: cseq.method.clone(),
        })
    }

    /// The identifiers.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// The state.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// Which side this element is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The last CSeq number this side sent (`None` for a UAS that has sent nothing).
    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }

    /// The last CSeq number the peer sent.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// Our address (From of our requests), with our tag.
    pub fn local_uri(&self) -> &NameAddr {
        &self.local_uri
    }

    /// The peer's address (To of our requests), with its tag.
    pub fn remote_uri(&self) -> &NameAddr {
        &self.remote_uri
    }

    /// Where requests in the dialog go: the peer's Contact.
    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    /// The proxies requests in the dialog traverse, in the order they are visited.
    pub fn route_set(&self) -> &[NameAddr] {
        &self.route_set
    }

    /// Whether the dialog was set up with a SIPS Request-URI.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The Contact this side puts in target refresh requests.
    pub fn local_contact(&self) -> Option<&NameAddr> {
        self.local_contact.as_ref()
    }

    /// Set the Contact this side puts in target refresh requests.
    pub fn set_local_contact(&mut self, contact: NameAddr) {
        self.local_contact = Some(contact);
    }

    /// A request received inside the dialog (RFC 3261 §12.2.2). A CSeq number lower than
    /// the last one is out of order ([`Error::CSeqOutOfOrder`], answered with 500); a
    /// target refresh request with a Contact replaces the remote target. ACK and CANCEL
    /// carry the number of the request they belong to and are not ordered.
    pub fn handle_request(&mut self, request: &Request) -> Result<()> {
        let cseq = request.headers.cseq()?;
        if !matches!(request.method, Method::Ack | Method::Cancel) {
            if let Some(last) = self.remote_seq
                && cseq.seq < last
            {
                return Err(Error::CSeqOutOfOrder);
            }
            self.remote_seq = Some(cseq.seq);
        }
        if is_target_refresh(&request.method)
            && let Some(contact) = first_contact(&request.headers)?
        {
            self.remote_target = owned_uri(contact.uri());
        }
        Ok(())
    }

    /// A response received to a request this side sent in the dialog (or to the initial
    /// request, for a UAC).
    ///
    /// - A 2xx to the initial request confirms an early dialog and recomputes the route
    ///   set from it (RFC 3261 §13.2.2.4).
    /// - A provisional or 2xx to the initial request while early, and a 2xx to a target
    ///   refresh request, replace the remote target with its Contact (§12.2.1.2).
    /// - A non-2xx final response to the initial request ends an early dialog (§12.3);
    ///   a 481 or 408 to a request in the dialog ends it (§12.2.1.2).
    pub fn handle_response(&mut self, response: &Response) -> Result<()> {
        let cseq = response.headers.cseq()?;
        let status = response.status;
        // CSeq spaces are per direction: only the UAC sent the initial request.
        let initial = self.role == Role::Uac
            && cseq.seq == self.initial_seq
            && cseq.method == self.initial_method;
        if self.state == DialogState::Early && initial && status.is_final() && !status.is_success()
        {
            self.state = DialogState::Terminated;
            return Ok(());
        }
        if status == StatusCode::CALL_DOES_NOT_EXIST || status == StatusCode::REQUEST_TIMEOUT {
            self.state = DialogState::Terminated;
            return Ok(());
        }
        let early_update = self.state == DialogState::Early && initial && status.as_u16() > 100;
        if self.state == DialogState::Early && initial && status.is_success() {
            self.state = DialogState::Confirmed;
            if self.role == Role::Uac {
                let mut routes: Vec<NameAddr> = response
                    .headers
                    .addr_list(&HeaderName::RecordRoute)?
                    .into_iter()
                    .map(owned_addr)
                    .collect();
                routes.reverse();
                self.route_set = routes;
            }
        }
        let refresh = status.is_success() && is_target_refresh(&cseq.method);
        if (early_update || refresh)
            && let Some(contact) = first_contact(&response.headers)?
        {
            self.remote_target = owned_uri(contact.uri());
        }
        Ok(())
    }

    /// A response this side (the UAS) sends to the initial request: a 2xx confirms the
    /// dialog, a non-2xx final response ends it while early; its Contact becomes the
    /// local contact.
    pub fn handle_sent_response(&mut self, response: &Response) -> Result<()> {
        let cseq = response.headers.cseq()?;
        if self.role != Role::Uas
            || cseq.seq != self.initial_seq
            || cseq.method != self.initial_method
        {
            return Ok(());
        }
        if let Some(contact) = first_contact(&response.headers)? {
            self.local_contact = Some(owned_addr(contact));
        }
        let status = response.status;
        if self.state == DialogState::Early {
            if status.is_success() {
                self.state = DialogState::Confirmed;
            } else if status.is_final() {
                self.state = DialogState::Terminated;
            }
        }
        Ok(())
    }
}
