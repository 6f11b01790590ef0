-- Registrar (crate `registrar`), PostgreSQL. Versions 2000-2999 belong to `registrar`.
-- Slots that may register, with digest credentials as HA1 hashes (RFC 7616 §3.4.2) for
-- MD5 and SHA-256, never the password. HA1 depends on the realm, which is kept so that
-- a change of `sip.domain` is detected instead of failing every REGISTER.
CREATE TABLE slots (
    extension   TEXT PRIMARY KEY CHECK (extension ~ '^[6-8][0-9]{3}$'),
    kind        TEXT NOT NULL CHECK (kind IN ('AUTO', 'MF', 'LS')),
    hub         TEXT,
    realm       TEXT NOT NULL,
    ha1_md5     TEXT NOT NULL CHECK (length(ha1_md5) = 32),
    ha1_sha256  TEXT NOT NULL CHECK (length(ha1_sha256) = 64),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
