//! The client side: answering a 401/407 (B2BUA towards a carrier, test UACs).

use std::fmt;

use super::algorithm::{self, Algorithm, Qop, QopAuth, ResponseInput};
use super::challenge::Challenge;
use super::credentials::{Credentials, NonceCount};
use super::error::AuthError;

/// What the client proves it knows.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientSecret {
    /// The password itself.
    Password(String),
    /// A precomputed HA1 (hex) for one realm and algorithm family, so that the password
    /// need not be stored. It only answers challenges whose algorithm has the same
    /// digest length (MD5 and MD5-sess, or SHA-256 and SHA-256-sess) and whose realm is
    /// the one it was computed for.
    Ha1(String),
}

impl fmt::Debug for ClientSecret {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(..)"),
            Self::Ha1(_) => f.write_str("Ha1(..)"),
        }
    }
}

/// A user name and its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user name sent in `username=`.
    pub username: String,
    /// The password or HA1.
    pub secret: ClientSecret,
}

impl Identity {
    /// An identity proved with a password.
    pub fn with_password(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            secret: ClientSecret::Password(password.into()),
        }
    }
}

/// Picks the challenge to answer among those of one response: the first (the server's
/// most preferred, RFC 8760 §2.4) whose algorithm is known and that offers `qop=auth`
/// or no qop at all (RFC 2069 servers).
pub fn choose_challenge<'a>(
    challenges: impl IntoIterator<Item = &'a Challenge>,
) -> Option<&'a Challenge> {
    challenges.into_iter().find(|c| usable_qop(c).is_ok())
}

/// The qop to answer with: `auth` when offered, none for an RFC 2069 challenge.
fn usable_qop(challenge: &Challenge) -> Result<Option<Qop>, AuthError> {
    if challenge.qop.is_empty() {
        if challenge.effective_algorithm().is_session() {
            // A -sess HA1 needs a cnonce, and without qop there is none to send.
            return Err(AuthError::UnsupportedQop(String::new()));
        }
        return Ok(None);
    }
    if challenge.offers_auth() {
        return Ok(Some(Qop::Auth));
    }
    let offered: Vec<&str> = challenge.qop.iter().map(Qop::as_str).collect();
    Err(AuthError::UnsupportedQop(offered.join(",")))
}

/// Answers `challenge` for a request of `method` to `uri` (the Request-URI the request
/// will carry), with the client nonce `cnonce` (fresh random text, e.g. from
/// [`cnonce_from_random`]) and the nonce-count `nc` (1 for the first request with this
/// nonce, then increasing).
///
/// With `qop=auth` offered the answer uses it; a challenge without qop gets the RFC 2069
/// form, in which `cnonce` and `nc` are not used. `opaque` and `algorithm` are echoed as
/// the challenge gave them.
pub fn answer_challenge(
    challenge: &Challenge,
    identity: &Identity,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: NonceCount,
) -> Result<Credentials, AuthError> {
    let alg = challenge.effective_algorithm();
    let qop = usable_qop(challenge)?;
    if qop.is_some() && cnonce.is_empty() {
        return Err(AuthError::MissingParameter("cnonce"));
    }
    let computed_ha1;
    let ha1 = match &identity.secret {
        ClientSecret::Password(password) => {
            computed_ha1 = algorithm::ha1(alg, &identity.username, &challenge.realm, password);
            computed_ha1.as_str()
        }
        ClientSecret::Ha1(hex) => hex.as_str(),
    };
    let response = algorithm::response(&ResponseInput {
        algorithm: alg,
        ha1,
        method,
        uri,
        nonce: &challenge.nonce,
        qop: qop.as_ref().map(|_| QopAuth { nc: &nc, cnonce }),
    })?;
    let with_qop = qop.is_some();
    Ok(Credentials {
        username: identity.username.clone(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: uri.to_owned(),
        response,
        algorithm: challenge.algorithm,
        cnonce: with_qop.then(|| cnonce.to_owned()),
        opaque: challenge.opaque.clone(),
        qop,
        nc: with_qop.then_some(nc),
        params: Vec::new(),
    })
}

/// Encodes random octets from the caller as a cnonce (lowercase hex; 16 octets or more
/// recommended).
pub fn cnonce_from_random(random: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(random.len() * 2);
    for b in random {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// A client that remembers the last challenge and counts requests made with its nonce,
/// so that later requests can carry credentials without another round trip.
///
/// Call [`handle_challenge`](Self::handle_challenge) with each 401/407 challenge (pick
/// it with [`choose_challenge`]), then [`authorize`](Self::authorize) for each request.
/// Answer a challenge at most once per request: if the request that carried the
/// credentials is challenged again with `stale=false`, the credentials are wrong and
/// retrying would loop.
#[derive(Debug, Clone)]
pub struct DigestClient {
    identity: Identity,
    challenge: Option<Challenge>,
    nc: u32,
}

impl DigestClient {
    /// A client with no challenge yet.
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            challenge: None,
            nc: 0,
        }
    }

    /// Takes a new challenge. The nonce-count restarts at 1 for a new nonce and keeps
    /// counting for the same one. A challenge this client cannot answer is refused and
    /// the previous one is kept.
    pub fn handle_challenge(&mut self, challenge: Challenge) -> Result<(), AuthError> {
        usable_qop(&challenge)?;
        let same_nonce = self
            .challenge
            .as_ref()
            .is_some_and(|c| c.nonce == challenge.nonce && c.realm == challenge.realm);
        if !same_nonce {
            self.nc = 0;
        }
        self.challenge = Some(challenge);
        Ok(())
    }

    /// Credentials for the next request, using the next nonce-count.
    pub fn authorize(
        &mut self,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> Result<Credentials, AuthError> {
        let challenge = self.challenge.as_ref().ok_or(AuthError::NoChallenge)?;
        let next = self
            .nc
            .checked_add(1)
            .ok_or(AuthError::NonceCountExhausted)?;
        let creds = answer_challenge(
            challenge,
            &self.identity,
            method,
            uri,
            cnonce,
            NonceCount::new(next),
        )?;
        self.nc = next;
        Ok(creds)
    }

    /// The challenge being answered, if any.
    pub fn challenge(&self) -> Option<&Challenge> {
        self.challenge.as_ref()
    }

    /// The nonce-count of the last credentials produced for the current nonce.
    pub fn nonce_count(&self) -> u32 {
        self.nc
    }

    /// Which algorithm the current challenge asks for.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.challenge.as_ref().map(Challenge::effective_algorithm)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rfc7616_challenge(alg: Option<Algorithm>) -> Challenge {
        Challenge {
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            opaque: Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS".into()),
            algorithm: alg,
            qop: vec![Qop::Auth, Qop::AuthInt],
            stale: false,
            domain: None,
            params: Vec::new(),
        }
    }

    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    #[test]
    fn answers_rfc7616_examples() {
        let me = Identity::with_password("Mufasa", "Circle of Life");
        for (alg, expected) in [
            (Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
            (
                Algorithm::Sha256,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let c = rfc7616_challenge(Some(alg));
            let creds = answer_challenge(
                &c,
                &me,
                "GET",
                "/dir/index.html",
                CNONCE,
                NonceCount::new(1),
            )
            .unwrap();
            assert_eq!(creds.response, expected);
            assert_eq!(creds.qop, Some(Qop::Auth));
            assert_eq!(creds.nc.unwrap().as_str(), "00000001");
            assert_eq!(creds.opaque, c.opaque);
            assert_eq!(creds.algorithm, Some(alg));
            assert_eq!(creds.cnonce.as_deref(), Some(CNONCE));
        }
    }

    #[test]
    fn ha1_secret_gives_the_same_answer_and_must_fit_the_algorithm() {
        let ha1 = algorithm::ha1(
            Algorithm::Md5,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        let me = Identity {
            username: "Mufasa".into(),
            secret: ClientSecret::Ha1(ha1),
        };
        let nc = NonceCount::new(1);
        let c = rfc7616_challenge(None);
        let creds = answer_challenge(&c, &me, "GET", "/dir/index.html", CNONCE, nc).unwrap();
        assert_eq!(creds.response, "8ca523f5e9506fed4657c9700eebdbec");
        assert_eq!(creds.algorithm, None);
        let sha = rfc7616_challenge(Some(Algorithm::Sha256));
        assert_eq!(
            answer_challenge(&sha, &me, "GET", "/dir/index.html", CNONCE, nc),
            Err(AuthError::InvalidHa1)
        );
    }

    #[test]
    fn rfc2069_challenge_gets_rfc2069_answer() {
        let c = Challenge {
            realm: "testrealm@host.com".into(),
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093".into(),
            opaque: None,
            algorithm: None,
            qop: Vec::new(),
            stale: false,
            domain: None,
            params: Vec::new(),
        };
        let me = Identity::with_password("Mufasa", "CircleOfLife");
        let creds =
            answer_challenge(&c, &me, "GET", "/dir/index.html", "", NonceCount::new(1)).unwrap();
        assert_eq!(creds.response, "1949323746fe6a43ef61f9606e7febea");
        assert_eq!((creds.qop, creds.nc, creds.cnonce), (None, None, None));
    }

    #[test]
    fn unusable_challenges_are_refused() {
        let me = Identity::with_password("u", "p");
        let mut c = rfc7616_challenge(Some(Algorithm::Md5));
        c.qop = vec![Qop::AuthInt];
        assert_eq!(
            answer_challenge(&c, &me, "INVITE", "sip:x", "c", NonceCount::new(1)),
            Err(AuthError::UnsupportedQop("auth-int".into()))
        );
        c.qop = vec![];
        c.algorithm = Some(Algorithm::Sha256Sess);
        assert!(matches!(
            answer_challenge(&c, &me, "INVITE", "sip:x", "c", NonceCount::new(1)),
            Err(AuthError::UnsupportedQop(_))
        ));
        let c = rfc7616_challenge(Some(Algorithm::Md5));
        assert_eq!(
            answer_challenge(&c, &me, "INVITE", "sip:x", "", NonceCount::new(1)),
            Err(AuthError::MissingParameter("cnonce"))
        );
    }

    #[test]
    fn choose_picks_the_first_usable() {
        let mut int_only = rfc7616_challenge(Some(Algorithm::Sha256));
        int_only.qop = vec![Qop::AuthInt];
        let md5 = rfc7616_challenge(Some(Algorithm::Md5));
        let sha = rfc7616_challenge(Some(Algorithm::Sha256));
        let list = [int_only, md5.clone(), sha];
        assert_eq!(choose_challenge(&list), Some(&md5));
        assert_eq!(choose_challenge(&list[..1]), None);
    }

    #[test]
    fn client_counts_per_nonce() {
        let mut client = DigestClient::new(Identity::with_password("u", "p"));
        assert_eq!(
            client.authorize("REGISTER", "sip:r", "c"),
            Err(AuthError::NoChallenge)
        );
        let c = rfc7616_challenge(Some(Algorithm::Md5));
        client.handle_challenge(c.clone()).unwrap();
        assert_eq!(client.algorithm(), Some(Algorithm::Md5));
        let first = client.authorize("REGISTER", "sip:r", "c1").unwrap();
        let second = client.authorize("REGISTER", "sip:r", "c2").unwrap();
        assert_eq!(first.nc.unwrap().value(), 1);
        assert_eq!(second.nc.unwrap().value(), 2);
        assert_ne!(first.response, second.response);
        // Same nonce again: keep counting.
        client.handle_challenge(c.clone()).unwrap();
        assert_eq!(
            client
                .authorize("REGISTER", "sip:r", "c")
                .unwrap()
                .nc
                .unwrap()
                .value(),
            3
        );
        // New nonce: start over.
        let mut fresh = c.clone();
        fresh.nonce = "other".into();
        fresh.stale = true;
        client.handle_challenge(fresh).unwrap();
        assert_eq!(
            client
                .authorize("REGISTER", "sip:r", "c")
                .unwrap()
                .nc
                .unwrap()
                .value(),
            1
        );
        // An unusable challenge leaves the old one in place.
        let mut bad = c;
        bad.qop = vec![Qop::AuthInt];
        assert!(client.handle_challenge(bad).is_err());
        assert_eq!(client.challenge().unwrap().nonce, "other");
        assert_eq!(client.nonce_count(), 1);
    }

    #[test]
    fn nonce_count_exhaustion_is_an_error() {
        let mut client = DigestClient::new(Identity::with_password("u", "p"));
        client.handle_challenge(rfc7616_challenge(None)).unwrap();
        client.nc = u32::MAX;
        assert_eq!(
            client.authorize("REGISTER", "sip:r", "c"),
            Err(AuthError::NonceCountExhausted)
        );
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let me = Identity::with_password("u", "hunter2");
        assert!(!format!("{me:?}").contains("hunter2"));
        assert_eq!(cnonce_from_random(&[0, 0xab, 0x10]), "00ab10");
    }
}
