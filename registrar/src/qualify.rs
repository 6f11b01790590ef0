//! OPTIONS keep-alive ("qualify") of bindings: the request the registrar hands out.

use sip_core::header::HeaderName;
use sip_core::transaction::{Peer, new_branch};
use sip_core::{Method, Request, Uri, Via};

use crate::binding::{Binding, BindingId};
use crate::config::LocalAddr;
use crate::ids::Ids;

/// An OPTIONS to send to a binding, to learn whether it still answers.
///
/// The request is complete: Request-URI (the contact), a top Via with a fresh RFC 3261
/// branch and `rport` for the binding's transport, Max-Forwards, From with a tag, To,
/// Call-ID and CSeq. Send it in a client transaction to [`target`](Self::target) (the
/// address the binding registered from, on the same connection when it has one), and
/// report the outcome with [`crate::Registrar::handle_qualify_result`].
#[derive(Debug, Clone)]
pub struct QualifyRequest {
    /// The binding being checked.
    pub binding: BindingId,
    /// Where to send it.
    pub target: Peer,
    /// The OPTIONS.
    pub request: Request,
}

/// Builds the OPTIONS for `binding`, sent from `local`, as `domain`'s registrar.
pub(crate) fn options_for(
    binding: &Binding,
    local: &LocalAddr,
    domain: &str,
    ids: &mut Ids,
) -> Result<QualifyRequest, sip_core::Error> {
    // RFC 3261 §19.1.5: headers of a URI are not part of a Request-URI made from it.
    let mut request = Request::new(Method::Options, binding.contact.without_headers());
    let branch = new_branch(&ids.next_bytes());
    let via = Via::new(
        local.transport,
        &local.host,
        Some(local.port),
        &branch,
        true,
    )?;
    let h = &mut request.headers;
    h.push(HeaderName::Via, via.as_bytes().to_vec());
    h.push(HeaderName::MaxForwards, &b"70"[..]);
    let from = format!("<sip:{domain}>;tag={}", ids.tag());
    h.push(HeaderName::From, from.into_bytes());
    let to = Uri::sip(Some(&binding.extension.to_string()), domain, None)?;
    h.push(HeaderName::To, format!("<{to}>").into_bytes());
    h.push(
        HeaderName::CallId,
        format!("{}@{domain}", ids.hex(12)).into_bytes(),
    );
    h.push(HeaderName::CSeq, &b"1 OPTIONS"[..]);
    Ok(QualifyRequest {
        binding: binding.id,
        target: binding.source,
        request,
    })
}
