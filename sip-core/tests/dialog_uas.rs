//! UAS dialogs (RFC 3261 §12.1.1, §12.2.2) and the `Dialogs` map: route set order, CSeq
//! order (500), target refresh, requests from the UAS, and 481 for unknown dialogs.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is a failed test

use bytes::Bytes;
use sip_core::dialog::{Dialog, DialogId, DialogState, Dialogs, Role};
use sip_core::{Error, HeaderName, Message, Method, Request, Response, StatusCode};

type R = Result<(), Box<dyn std::error::Error>>;

fn request(text: &str) -> Request {
    match Message::parse_datagram(Bytes::copy_from_slice(text.as_bytes())) {
        Ok(Message::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

/// The INVITE as it reaches Bob through two record-routing proxies.
fn invite() -> Request {
    request(
        "INVITE sip:bob@192.0.2.4 SIP/2.0\r\n\
Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2\r\n\
Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK1\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
Record-Route: <sip:p2.example.com;lr>\r\n\
Record-Route: <sip:p1.example.com;lr>\r\n\
Max-Forwards: 68\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Length: 0\r\n\r\n",
    )
}

/// A request from Alice inside the dialog.
fn in_dialog(method: &str, cseq: u32, to_tag: &str, extra: &str) -> Request {
    request(&format!(
        "{method} sip:bob@192.0.2.4 SIP/2.0\r\n\
Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK{method}{cseq}\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>;tag={to_tag}\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: {cseq} {method}\r\n\
{extra}Content-Length: 0\r\n\r\n"
    ))
}

fn uas() -> Result<Dialog, Error> {
    Dialog::uas(&invite(), "a6c85cf")
}

#[test]
fn uas_dialog_keeps_record_route_in_order_and_the_contact_as_target() -> R {
    let d = uas()?;
    assert_eq!(d.role(), Role::Uas);
    assert_eq!(d.state(), DialogState::Early);
    let hosts: Vec<&str> = d.route_set().iter().map(|r| r.uri().host_str()).collect();
    assert_eq!(hosts, vec!["p2.example.com", "p1.example.com"]);
    assert_eq!(
        d.remote_target().to_string(),
        "sip:alice@pc33.atlanta.example.com"
    );
    assert_eq!(d.remote_seq(), Some(314159));
    assert_eq!(d.local_seq(), None);
    assert_eq!(&d.id().local_tag[..], b"a6c85cf");
    assert_eq!(&d.id().remote_tag[..], b"1928301774");
    assert_eq!(d.local_uri().tag(), Some(&b"a6c85cf"[..]));
    assert_eq!(d.remote_uri().tag(), Some(&b"1928301774"[..]));
    Ok(())
}

#[test]
fn the_2xx_sent_confirms_and_a_final_failure_ends_it() -> R {
    let inv = invite();
    let mut d = uas()?;
    let mut ok = Response::from_request(&inv, StatusCode::OK);
    ok.set_to_tag("a6c85cf");
    ok.headers.push(HeaderName::Contact, "<sip:bob@192.0.2.4>");
    d.handle_sent_response(&ok)?;
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(
        d.local_contact().map(|c| c.uri().to_string()).as_deref(),
        Some("sip:bob@192.0.2.4")
    );

    let mut e = uas()?;
    let mut busy = Response::from_request(&inv, StatusCode::BUSY_HERE);
    busy.set_to_tag("a6c85cf");
    e.handle_sent_response(&busy)?;
    assert_eq!(e.state(), DialogState::Terminated);
    Ok(())
}

#[test]
fn lower_cseq_is_out_of_order_and_answered_500() -> R {
    let mut d = uas()?;
    let old = in_dialog("INFO", 314158, "a6c85cf", "");
    let err = d.handle_request(&old).err();
    assert_eq!(err, Some(Error::CSeqOutOfOrder));
    assert_eq!(
        err.map(StatusCode::from),
        Some(StatusCode::SERVER_INTERNAL_ERROR)
    );
    // The ACK for the INVITE carries the INVITE's number: not ordered.
    d.handle_request(&in_dialog("ACK", 314159, "a6c85cf", ""))?;
    // Gaps are fine (§12.2.2), equal is not lower.
    d.handle_request(&in_dialog("INFO", 314170, "a6c85cf", ""))?;
    assert_eq!(d.remote_seq(), Some(314170));
    d.handle_request(&in_dialog("INFO", 314170, "a6c85cf", ""))?;
    assert_eq!(
        d.handle_request(&in_dialog("BYE", 314169, "a6c85cf", ""))
            .err(),
        Some(Error::CSeqOutOfOrder)
    );
    assert_eq!(d.remote_seq(), Some(314170));
    Ok(())
}

#[test]
fn target_refresh_requests_replace_the_remote_target() -> R {
    let mut d = uas()?;
    d.handle_request(&in_dialog(
        "INVITE",
        314160,
        "a6c85cf",
        "Contact: <sip:alice@203.0.113.50>\r\n",
    ))?;
    assert_eq!(d.remote_target().to_string(), "sip:alice@203.0.113.50");
    // INFO is not a target refresh request.
    d.handle_request(&in_dialog(
        "INFO",
        314161,
        "a6c85cf",
        "Contact: <sip:alice@198.51.100.99>\r\n",
    ))?;
    assert_eq!(d.remote_target().to_string(), "sip:alice@203.0.113.50");
    // UPDATE is (RFC 3311).
    d.handle_request(&in_dialog(
        "UPDATE",
        314162,
        "a6c85cf",
        "Contact: <sip:alice@198.51.100.99>\r\n",
    ))?;
    assert_eq!(d.remote_target().to_string(), "sip:alice@198.51.100.99");
    Ok(())
}

#[test]
fn uas_requests_start_their_own_cseq_and_swap_the_parties() -> R {
    let mut d = uas()?;
    let bye = d.create_request(Method::Bye)?;
    assert_eq!(bye.uri.to_string(), "sip:alice@pc33.atlanta.example.com");
    assert_eq!(bye.headers.cseq()?.seq, 1);
    assert_eq!(bye.headers.from()?.tag(), Some(&b"a6c85cf"[..]));
    assert_eq!(
        bye.headers.from()?.uri().to_string(),
        "sip:bob@biloxi.example.com"
    );
    assert_eq!(bye.headers.to()?.tag(), Some(&b"1928301774"[..]));
    let routes: Vec<String> = bye
        .headers
        .addr_list(&HeaderName::Route)?
        .iter()
        .map(|r| r.uri().to_string())
        .collect();
    assert_eq!(
        routes,
        vec!["sip:p2.example.com;lr", "sip:p1.example.com;lr"]
    );
    assert_eq!(d.create_request(Method::Info)?.headers.cseq()?.seq, 2);
    Ok(())
}

#[test]
fn ack_and_cancel_need_a_request_sent_first() -> R {
    let mut d = uas()?;
    assert!(d.create_request(Method::Ack).is_err());
    d.create_request(Method::Invite)?;
    assert_eq!(d.create_request(Method::Ack)?.headers.cseq()?.seq, 1);
    Ok(())
}

#[test]
fn dialogs_find_in_dialog_requests_or_answer_481() -> R {
    let mut dialogs: Dialogs<&'static str> = Dialogs::new();
    assert!(dialogs.insert(uas()?, "leg-1").is_none());
    assert_eq!(dialogs.len(), 1);

    let bye = in_dialog("BYE", 314160, "a6c85cf", "");
    let (d, leg) = dialogs.find_request_mut(&bye)?;
    assert_eq!(*leg, "leg-1");
    d.handle_request(&bye)?;

    let stranger = in_dialog("BYE", 314160, "nosuchtag", "");
    let err = dialogs.find_request_mut(&stranger).err();
    assert_eq!(err, Some(Error::NoSuchCallOrTransaction));
    assert_eq!(
        err.map(StatusCode::from),
        Some(StatusCode::CALL_DOES_NOT_EXIST)
    );
    // No To tag: not an in-dialog request at all.
    let mut untagged = in_dialog("BYE", 314160, "x", "");
    untagged
        .headers
        .set(HeaderName::To, "Bob <sip:bob@biloxi.example.com>");
    assert_eq!(
        dialogs.find_request_mut(&untagged).err(),
        Some(Error::NoSuchCallOrTransaction)
    );

    let id = DialogId {
        call_id: Bytes::from_static(b"a84b4c76e66710"),
        local_tag: Bytes::from_static(b"a6c85cf"),
        remote_tag: Bytes::from_static(b"1928301774"),
    };
    assert!(dialogs.get(&id).is_some());
    if let Some((d, _)) = dialogs.get_mut(&id) {
        assert_eq!(d.remote_seq(), Some(314160));
    }
    dialogs.retain(|d, _| d.state() != DialogState::Early);
    assert!(dialogs.is_empty());
    Ok(())
}

#[test]
fn forked_uac_dialogs_are_told_apart_by_the_remote_tag() -> R {
    let inv = request(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKfork\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: fork-1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Length: 0\r\n\r\n",
    );
    let answer = |tag: &str, host: &str| {
        let mut r = Response::from_request(&inv, StatusCode::OK);
        r.set_to_tag(tag);
        r.headers
            .push(HeaderName::Contact, format!("<sip:bob@{host}>"));
        r
    };
    let (a, b) = (answer("one", "192.0.2.1"), answer("two", "192.0.2.2"));
    let mut dialogs = Dialogs::new();
    dialogs.insert(Dialog::uac(&inv, &a)?, 1);
    dialogs.insert(Dialog::uac(&inv, &b)?, 2);
    assert_eq!(dialogs.len(), 2);
    assert_eq!(dialogs.find_response_mut(&b).map(|(_, n)| *n), Some(2));
    let (d, n) = dialogs.find_response_mut(&a).ok_or("fork one")?;
    assert_eq!((*n, d.remote_target().host_str()), (1, "192.0.2.1"));
    let untagged = Response::from_request(&inv, StatusCode::OK);
    assert!(dialogs.find_response_mut(&untagged).is_none());
    assert_eq!(dialogs.iter().count(), 2);
    let id = Dialog::uac(&inv, &a)?.id().clone();
    assert!(dialogs.remove(&id).is_some());
    assert_eq!(dialogs.len(), 1);
    Ok(())
}

#[test]
fn a_peer_without_a_from_tag_has_a_null_remote_tag() -> R {
    let mut inv = invite();
    inv.headers
        .set(HeaderName::From, "Alice <sip:alice@atlanta.example.com>");
    let d = Dialog::uas(&inv, "a6c85cf")?;
    assert!(d.id().remote_tag.is_empty());
    let mut dialogs = Dialogs::new();
    dialogs.insert(d, ());
    let mut bye = in_dialog("BYE", 314160, "a6c85cf", "");
    bye.headers
        .set(HeaderName::From, "Alice <sip:alice@atlanta.example.com>");
    assert!(dialogs.find_request_mut(&bye).is_ok());
    Ok(())
}

#[test]
fn a_request_without_contact_cannot_create_a_uas_dialog() {
    let mut inv = invite();
    inv.headers.remove(&HeaderName::Contact);
    assert_eq!(
        Dialog::uas(&inv, "t").err(),
        Some(Error::MissingHeader("Contact"))
    );
}

#[test]
fn cseq_spaces_are_per_direction() -> R {
    // The UAC's INVITE and the UAS's own re-INVITE both carry CSeq 1: a response to the
    // UAS's request is not a response to the initial request.
    let mut inv = invite();
    inv.headers.set(HeaderName::CSeq, "1 INVITE");
    let mut d = Dialog::uas(&inv, "a6c85cf")?;
    let reinvite = d.create_request(Method::Invite)?;
    assert_eq!(reinvite.headers.cseq()?.seq, 1);
    let mut ok = Response::new(StatusCode::OK);
    for h in reinvite.headers.iter() {
        ok.headers.push_header(h.clone());
    }
    ok.headers
        .set(HeaderName::Contact, "<sip:alice@203.0.113.8>");
    d.handle_response(&ok)?;
    assert_eq!(
        d.state(),
        DialogState::Early,
        "only the UAS's own 2xx confirms"
    );
    assert_eq!(d.remote_target().to_string(), "sip:alice@203.0.113.8");
    Ok(())
}

#[test]
fn dialogs_do_not_pin_the_messages_they_came_from() -> R {
    // A dialog lives as long as its call: it copies what it keeps.
    let raw = Bytes::from(invite().to_bytes().to_vec());
    let Message::Request(inv) = Message::parse_datagram(raw.clone())? else {
        return Err("not a request".into());
    };
    let uas = Dialog::uas(&inv, "a6c85cf")?;
    let ok_raw = {
        // Built from the INVITE, so it shares its buffer; only its printed copy stays.
        let mut ok = Response::from_request(&inv, StatusCode::OK);
        ok.set_to_tag("a6c85cf");
        ok.headers.push(HeaderName::Contact, "<sip:bob@192.0.2.4>");
        Bytes::from(ok.to_bytes().to_vec())
    };
    let Message::Response(ok) = Message::parse_datagram(ok_raw.clone())? else {
        return Err("not a response".into());
    };
    let uac = Dialog::uac(&inv, &ok)?;
    assert!(!raw.is_unique());
    drop((inv, ok));
    assert!(raw.is_unique(), "the INVITE's datagram is free");
    assert!(ok_raw.is_unique(), "the 2xx's datagram is free");
    assert_eq!(uas.route_set().len(), 2);
    assert_eq!(uac.remote_target().to_string(), "sip:bob@192.0.2.4");
    Ok(())
}
