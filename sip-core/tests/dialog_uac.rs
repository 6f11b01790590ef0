//! UAC dialogs (RFC 3261 §12.1.2, §12.2.1, §13.2.2.4): creation from 1xx/2xx, route set
//! order, loose and strict routing, CSeq numbering, target refresh, termination.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is a failed test

use bytes::Bytes;
use sip_core::dialog::{Dialog, DialogState, Role};
use sip_core::transaction::{Config, Peer, TransactionLayer, new_branch};
use sip_core::{Error, HeaderName, Message, Method, Request, Response};

type R = Result<(), Box<dyn std::error::Error>>;

fn request(text: &str) -> Request {
    match Message::parse_datagram(Bytes::copy_from_slice(text.as_bytes())) {
        Ok(Message::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

fn invite() -> Request {
    request(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Length: 0\r\n\r\n",
    )
}

/// A response to the INVITE from Bob's side, with `extra` header lines.
fn response(req: &Request, code: u16, extra: &[(&str, &str)]) -> Response {
    let status = sip_core::StatusCode::from_u16(code).expect("status");
    let mut r = Response::from_request(req, status);
    r.set_to_tag("a6c85cf");
    for (name, value) in extra {
        r.headers
            .push(HeaderName::from_bytes(name.as_bytes()), value.to_string());
    }
    r
}

const RR: (&str, &str) = (
    "Record-Route",
    "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
);
const CONTACT: (&str, &str) = ("Contact", "<sip:bob@192.0.2.4>");

fn route_hosts(d: &Dialog) -> Vec<String> {
    d.route_set()
        .iter()
        .map(|r| r.uri().host_str().to_owned())
        .collect()
}

fn routes_of(r: &Request) -> Vec<String> {
    r.headers
        .addr_list(&HeaderName::Route)
        .expect("routes")
        .iter()
        .map(|a| a.uri().to_string())
        .collect()
}

#[test]
fn a_2xx_makes_a_confirmed_dialog_with_the_route_set_reversed() -> R {
    let inv = invite();
    let ok = response(&inv, 200, &[RR, CONTACT]);
    let d = Dialog::uac(&inv, &ok)?;
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.role(), Role::Uac);
    assert_eq!(&d.id().call_id[..], b"a84b4c76e66710");
    assert_eq!(&d.id().local_tag[..], b"1928301774");
    assert_eq!(&d.id().remote_tag[..], b"a6c85cf");
    assert_eq!(route_hosts(&d), vec!["p2.example.com", "p1.example.com"]);
    assert_eq!(d.remote_target().to_string(), "sip:bob@192.0.2.4");
    assert_eq!(d.local_seq(), Some(314159));
    assert_eq!(d.remote_seq(), None);
    assert_eq!(
        d.local_contact().map(|c| c.uri().to_string()).as_deref(),
        Some("sip:alice@pc33.atlanta.example.com")
    );
    assert!(!d.is_secure());
    Ok(())
}

#[test]
fn a_tagged_1xx_makes_an_early_dialog_that_the_2xx_confirms() -> R {
    let inv = invite();
    // A 180 with one Record-Route and no Contact: the target stays the Request-URI.
    let ringing = response(&inv, 180, &[("Record-Route", "<sip:p1.example.com;lr>")]);
    let mut d = Dialog::uac(&inv, &ringing)?;
    assert_eq!(d.state(), DialogState::Early);
    assert_eq!(d.remote_target().to_string(), "sip:bob@biloxi.example.com");
    assert_eq!(route_hosts(&d), vec!["p1.example.com"]);
    // A 183 with a Contact updates the target of the early dialog.
    d.handle_response(&response(&inv, 183, &[("Contact", "<sip:bob@192.0.2.9>")]))?;
    assert_eq!(d.remote_target().to_string(), "sip:bob@192.0.2.9");
    // The 2xx confirms and recomputes the route set (§13.2.2.4).
    d.handle_response(&response(&inv, 200, &[RR, CONTACT]))?;
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(route_hosts(&d), vec!["p2.example.com", "p1.example.com"]);
    assert_eq!(d.remote_target().to_string(), "sip:bob@192.0.2.4");
    Ok(())
}

#[test]
fn a_failed_initial_request_ends_the_early_dialog() -> R {
    let inv = invite();
    let mut d = Dialog::uac(&inv, &response(&inv, 180, &[CONTACT]))?;
    d.handle_response(&response(&inv, 486, &[]))?;
    assert_eq!(d.state(), DialogState::Terminated);
    Ok(())
}

#[test]
fn responses_that_create_no_dialog_are_refused() {
    let inv = invite();
    let trying = Response::from_request(&inv, sip_core::StatusCode::TRYING);
    assert_eq!(
        Dialog::uac(&inv, &trying).err(),
        Some(Error::OutOfRange("dialog-creating status"))
    );
    let busy = response(&inv, 486, &[]);
    assert!(Dialog::uac(&inv, &busy).is_err());
    let untagged = Response::from_request(&inv, sip_core::StatusCode::OK);
    assert!(matches!(
        Dialog::uac(&inv, &untagged),
        Err(Error::InvalidHeader { name: "To", .. })
    ));
    let no_contact = response(&inv, 200, &[]);
    assert_eq!(
        Dialog::uac(&inv, &no_contact).err(),
        Some(Error::MissingHeader("Contact"))
    );
}

#[test]
fn requests_in_the_dialog_use_loose_routing_and_count_cseq() -> R {
    let inv = invite();
    let ok = response(&inv, 200, &[RR, CONTACT]);
    let mut d = Dialog::uac(&inv, &ok)?;

    // §13.2.2.4: the ACK carries the INVITE's CSeq number and does not advance it.
    let ack = d.create_ack(&ok)?;
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.headers.cseq()?.seq, 314159);
    assert_eq!(ack.headers.cseq()?.method, Method::Ack);
    assert_eq!(ack.uri.to_string(), "sip:bob@192.0.2.4");
    assert!(!ack.headers.contains(&HeaderName::Contact));
    assert_eq!(d.local_seq(), Some(314159));

    let bye = d.create_request(Method::Bye)?;
    assert_eq!(bye.uri.to_string(), "sip:bob@192.0.2.4");
    assert_eq!(
        routes_of(&bye),
        vec!["sip:p2.example.com;lr", "sip:p1.example.com;lr"]
    );
    assert_eq!(bye.headers.cseq()?.seq, 314160);
    assert_eq!(bye.headers.from()?.tag(), Some(&b"1928301774"[..]));
    assert_eq!(bye.headers.to()?.tag(), Some(&b"a6c85cf"[..]));
    assert_eq!(
        bye.headers.to()?.uri().to_string(),
        "sip:bob@biloxi.example.com"
    );
    assert_eq!(&bye.headers.call_id()?[..], b"a84b4c76e66710");
    assert!(!bye.headers.contains(&HeaderName::Contact));
    let info = d.create_request(Method::Info)?;
    assert_eq!(info.headers.cseq()?.seq, 314161);
    // A re-INVITE is a target refresh request and carries our Contact.
    let reinvite = d.create_request(Method::Invite)?;
    assert!(reinvite.headers.contains(&HeaderName::Contact));

    // With a Via added, the request is valid and a transaction layer sends it.
    let mut layer = TransactionLayer::new(Config::default())?;
    let mut bye = bye;
    bye.headers.push_front(
        HeaderName::Via,
        format!(
            "SIP/2.0/UDP pc33.atlanta.example.com;branch={}",
            new_branch(&[9; 16])
        ),
    );
    sip_core::message::validate(&Message::Request(bye.clone()))?;
    let dest = Peer::udp("192.0.2.4:5060".parse()?);
    layer.send_request(std::time::Instant::now(), bye, dest)?;
    Ok(())
}

#[test]
fn strict_routing_puts_the_first_route_in_the_request_uri() -> R {
    let inv = invite();
    let ok = response(
        &inv,
        200,
        &[
            (
                "Record-Route",
                "<sip:p1.example.com;lr>, <sip:strict.example.com;transport=tcp>",
            ),
            CONTACT,
        ],
    );
    let mut d = Dialog::uac(&inv, &ok)?;
    // Reversed: the strict router comes first.
    assert_eq!(
        route_hosts(&d),
        vec!["strict.example.com", "p1.example.com"]
    );
    let bye = d.create_request(Method::Bye)?;
    // §12.2.1.1: Request-URI = first route; Route = the rest, then the remote target.
    assert_eq!(bye.uri.to_string(), "sip:strict.example.com;transport=tcp");
    assert_eq!(
        routes_of(&bye),
        vec!["sip:p1.example.com;lr", "sip:bob@192.0.2.4"]
    );
    Ok(())
}

#[test]
fn target_refresh_by_2xx_and_termination_by_481() -> R {
    let inv = invite();
    let mut d = Dialog::uac(&inv, &response(&inv, 200, &[CONTACT]))?;
    let reinvite = d.create_request(Method::Invite)?;
    let seq = reinvite.headers.cseq()?.seq;
    let mut ok = Response::new(sip_core::StatusCode::OK);
    for h in reinvite.headers.iter() {
        ok.headers.push_header(h.clone());
    }
    ok.headers
        .set(HeaderName::Contact, "<sip:bob@203.0.113.77>");
    d.handle_response(&ok)?;
    assert_eq!(d.remote_target().to_string(), "sip:bob@203.0.113.77");
    // A 2xx to a request that is not a target refresh leaves the target alone.
    let info = d.create_request(Method::Info)?;
    let mut info_ok = Response::new(sip_core::StatusCode::OK);
    for h in info.headers.iter() {
        info_ok.headers.push_header(h.clone());
    }
    info_ok
        .headers
        .set(HeaderName::Contact, "<sip:bob@198.51.100.1>");
    d.handle_response(&info_ok)?;
    assert_eq!(d.remote_target().to_string(), "sip:bob@203.0.113.77");
    assert_eq!(seq + 1, info.headers.cseq()?.seq);
    // §12.2.1.2: 481 to a request in the dialog ends it.
    let mut gone = info_ok.clone();
    gone.status = sip_core::StatusCode::CALL_DOES_NOT_EXIST;
    d.handle_response(&gone)?;
    assert_eq!(d.state(), DialogState::Terminated);
    Ok(())
}

#[test]
fn sips_request_uri_makes_a_secure_dialog() -> R {
    let mut inv = invite();
    inv.uri = sip_core::Uri::parse_str("sips:bob@biloxi.example.com")?;
    let d = Dialog::uac(&inv, &response(&inv, 200, &[CONTACT]))?;
    assert!(d.is_secure());
    Ok(())
}
