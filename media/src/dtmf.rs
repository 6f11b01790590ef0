//! RFC 4733 telephone-event detection.

/// One finished DTMF event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    /// `0`-`9`, `*`, `#`, `A`-`D`, or `!` for flash (event 16).
    pub digit: char,
    /// Duration in milliseconds, from the event's own duration field.
    pub duration_ms: u32,
    /// Power level in -dBm0 (0..=63).
    pub volume: u8,
}

/// Turns telephone-event packets of one stream into digits.
///
/// RFC 4733 §2.5.1.4 sends the end packet three times with the same timestamp; an event is
/// reported once, at its first end packet. An event whose end packets were all lost is
/// reported when the next event (a new timestamp) starts, with the last duration seen.
#[derive(Debug, Clone, Default)]
pub struct DtmfDetector {
    current: Option<Current>,
    last_ended_ts: Option<u32>,
    /// Finished digits not yet polled; at most two can finish on one packet.
    ready: [Option<DtmfDigit>; 2],
}

#[derive(Debug, Clone, Copy)]
struct Current {
    timestamp: u32,
    event: u8,
    volume: u8,
    duration: u16,
}

impl DtmfDetector {
    /// Feeds one telephone-event payload with its RTP timestamp; finished digits are then
    /// read with [`poll_digit`](Self::poll_digit). Payloads shorter than 4 octets are
    /// ignored.
    pub fn handle_payload(&mut self, timestamp: u32, payload: &[u8], clock_rate: u32) {
        if payload.len() < 4 || self.last_ended_ts == Some(timestamp) {
            // Too short, or a retransmitted end packet (RFC 4733 §2.5.1.4).
            return;
        }
        let event = payload[0];
        let end = payload[1] & 0x80 != 0;
        let volume = payload[1] & 0x3f;
        let duration = u16::from_be_bytes([payload[2], payload[3]]);
        match self.current {
            Some(c) if c.timestamp == timestamp => {
                self.current = Some(Current {
                    duration: duration.max(c.duration),
                    volume,
                    ..c
                });
            }
            Some(c) => {
                // A new event began before the old one's end packet arrived.
                self.push(to_digit(c, clock_rate));
                self.current = Some(Current {
                    timestamp,
                    event,
                    volume,
                    duration,
                });
            }
            None => {
                self.current = Some(Current {
                    timestamp,
                    event,
                    volume,
                    duration,
                })
            }
        }
        if end {
            self.last_ended_ts = Some(timestamp);
            let c = self.current.take();
            self.push(c.and_then(|c| to_digit(c, clock_rate)));
        }
    }

    /// The next finished digit, oldest first.
    pub fn poll_digit(&mut self) -> Option<DtmfDigit> {
        let d = self.ready[0].take();
        self.ready[0] = self.ready[1].take();
        d
    }

    fn push(&mut self, d: Option<DtmfDigit>) {
        if d.is_none() {
            return;
        }
        if self.ready[0].is_none() {
            self.ready[0] = d;
        } else {
            self.ready[1] = d;
        }
    }
}

fn to_digit(c: Current, clock_rate: u32) -> Option<DtmfDigit> {
    let digit = match c.event {
        0..=9 => char::from(b'0' + c.event),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + c.event - 12),
        16 => '!',
        _ => return None,
    };
    let rate = clock_rate.max(1);
    Some(DtmfDigit {
        digit,
        duration_ms: u32::from(c.duration) * 1000 / rate,
        volume: c.volume,
    })
}

/// Builds a telephone-event payload (for tests and the load generator).
pub fn event_payload(event: u8, end: bool, volume: u8, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    [
        event,
        (if end { 0x80 } else { 0 }) | (volume & 0x3f),
        d[0],
        d[1],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(d: &mut DtmfDetector, ts: u32, p: [u8; 4]) -> Option<DtmfDigit> {
        d.handle_payload(ts, &p, 8000);
        d.poll_digit()
    }

    #[test]
    fn one_digit_with_retransmitted_end() {
        let mut d = DtmfDetector::default();
        assert_eq!(feed(&mut d, 1000, event_payload(5, false, 10, 160)), None);
        assert_eq!(feed(&mut d, 1000, event_payload(5, false, 10, 320)), None);
        let got = feed(&mut d, 1000, event_payload(5, true, 10, 800));
        assert_eq!(
            got,
            Some(DtmfDigit {
                digit: '5',
                duration_ms: 100,
                volume: 10
            })
        );
        assert_eq!(feed(&mut d, 1000, event_payload(5, true, 10, 800)), None);
        assert_eq!(feed(&mut d, 1000, event_payload(5, true, 10, 800)), None);
    }

    #[test]
    fn lost_end_reported_when_next_event_starts() {
        let mut d = DtmfDetector::default();
        assert_eq!(feed(&mut d, 0, event_payload(11, false, 7, 480)), None);
        let got = feed(&mut d, 2000, event_payload(10, false, 7, 160));
        assert_eq!(got.map(|g| (g.digit, g.duration_ms)), Some(('#', 60)));
        let got = feed(&mut d, 2000, event_payload(10, true, 7, 400));
        assert_eq!(got.map(|g| g.digit), Some('*'));
    }

    #[test]
    fn two_digits_finish_on_one_packet() {
        let mut d = DtmfDetector::default();
        d.handle_payload(0, &event_payload(1, false, 7, 480), 8000);
        // Only the end packet of the next event arrives.
        d.handle_payload(4000, &event_payload(2, true, 7, 480), 8000);
        assert_eq!(d.poll_digit().map(|g| g.digit), Some('1'));
        assert_eq!(d.poll_digit().map(|g| g.digit), Some('2'));
        assert_eq!(d.poll_digit(), None);
    }

    #[test]
    fn letters_flash_and_garbage() {
        let mut d = DtmfDetector::default();
        assert_eq!(
            feed(&mut d, 1, event_payload(13, true, 0, 8000)).map(|g| g.digit),
            Some('B')
        );
        assert_eq!(
            feed(&mut d, 2, event_payload(16, true, 0, 8000)).map(|g| g.digit),
            Some('!')
        );
        assert_eq!(feed(&mut d, 3, event_payload(99, true, 0, 8000)), None);
        d.handle_payload(4, &[1, 2], 8000);
        assert_eq!(d.poll_digit(), None);
    }
}
