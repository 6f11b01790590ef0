//! The Date header of a 200 to REGISTER (RFC 3261 §10.3 step 8, §20.17): RFC 1123 form,
//! always GMT, formatted once per second.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use chrono::{DateTime, Utc};

#[derive(Default)]
pub(crate) struct DateCache {
    second: Option<u64>,
    text: Bytes,
}

impl DateCache {
    /// `Sat, 13 Nov 2010 23:29:00 GMT` for `wall`.
    pub(crate) fn get(&mut self, wall: SystemTime) -> Bytes {
        let second = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if self.second != Some(second) {
            let t = DateTime::<Utc>::from(wall);
            self.text = Bytes::from(t.format("%a, %d %b %Y %H:%M:%S GMT").to_string());
            self.second = Some(second);
        }
        self.text.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc1123_gmt() {
        let mut c = DateCache::default();
        let t = UNIX_EPOCH + Duration::from_secs(1_289_690_940);
        assert_eq!(&c.get(t)[..], b"Sat, 13 Nov 2010 23:29:00 GMT");
        assert_eq!(
            &c.get(t + Duration::from_millis(999))[..],
            b"Sat, 13 Nov 2010 23:29:00 GMT"
        );
        assert_eq!(
            &c.get(t + Duration::from_secs(1))[..],
            b"Sat, 13 Nov 2010 23:29:01 GMT"
        );
    }
}
