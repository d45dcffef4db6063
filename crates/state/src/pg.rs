//! The PostgreSQL connection: `tokio-postgres` with its connection driven on a thread of its own
//! (a one-thread tokio runtime that does the socket I/O), so the store stays synchronous and
//! may be called from inside any runtime: a call hands its request to that thread over a channel
//! and waits for the answer, as a SQLite call waits for its file.

use std::error::Error as _;
use std::sync::mpsc;

use bytes::BytesMut;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Config};

use crate::db::{DbError, Rows, Value, dollar_placeholders};

/// Where a PostgreSQL store lives: the server, the password (from env or file, never in the
/// URL we print) and the schema that holds this store's tables (one per tenant).
#[derive(Clone, PartialEq, Eq)]
pub struct PgTarget {
    pub url: String,
    pub password: Option<String>,
    pub schema: String,
    /// PEM certificates trusted besides the public roots, for a server with a private CA.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("url", &self.display())
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PgTarget {
    /// The URL without any password, with the schema: how errors name this store.
    pub fn display(&self) -> String {
        let bare = match url_without_password(&self.url) {
            Some(bare) => bare,
            None => "postgres://(unparsable url)".to_string(),
        };
        format!("{bare}#{}", self.schema)
    }
}

fn url_without_password(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(name, _)| name);
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    Some(format!("{scheme}://{authority}/{path}"))
}

/// Whether `url` is a PostgreSQL connection URL this client reads; the error says why not.
pub fn check_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(format!(
            "{} does not start with postgres:// (postgres://user@host:port/database)",
            url_without_password(url).unwrap_or_else(|| "the value".to_string())
        ));
    }
    url.parse::<Config>()
        .map(|_| ())
        .map_err(|error| error.to_string())
}

/// Whether `url` carries a password (`postgres://user:password@...`).
pub fn url_has_password(url: &str) -> bool {
    url.parse::<Config>()
        .is_ok_and(|config| config.get_password().is_some())
}

/// One connection; dropping it closes the socket and ends its thread.
pub struct PgConn {
    client: Client,
    lock_key: i64,
}

impl PgConn {
    /// Connects (TLS when the server offers or requires it, per the URL's `sslmode`), creates
    /// the schema when missing and works in it.
    pub fn connect(target: &PgTarget) -> Result<PgConn, DbError> {
        let mut config: Config = target.url.parse()?;
        if let Some(password) = &target.password {
            config.password(password.as_bytes());
        }
        let tls = tls(target.ca_pem.as_deref())?;
        let (sender, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("flexsync-postgres".into())
            .spawn(move || drive(config, tls, sender))
            .map_err(|error| DbError::Decode(format!("could not start its thread: {error}")))?;
        let client = receiver
            .recv()
            .map_err(|_| DbError::Decode("its connection thread ended".into()))??;
        let mut conn = PgConn {
            client,
            lock_key: lock_key(&target.schema),
        };
        let schema = quote_ident(&target.schema);
        // The server's notices ("schema already exists, skipping") are not worth a log line.
        conn.batch(&format!(
            "SET client_min_messages TO warning; CREATE SCHEMA IF NOT EXISTS {schema}; \
             SET search_path TO {schema}"
        ))
        .or_else(|error| {
            // Two openers may race to create it; the loser finds it there.
            conn.batch(&format!("SET search_path TO {schema}"))
                .map_err(|_| error)
        })?;
        Ok(conn)
    }

    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<usize, DbError> {
        let sql = dollar_placeholders(sql);
        let params = bind(params);
        let changed = futures::executor::block_on(self.client.execute(&sql, &refs(&params)))?;
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let sql = dollar_placeholders(sql);
        let params = bind(params);
        let statement = futures::executor::block_on(self.client.prepare(&sql))?;
        let columns = statement
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let rows = futures::executor::block_on(self.client.query(&statement, &refs(&params)))?;
        let rows = rows
            .iter()
            .map(|row| (0..row.len()).map(|index| read(row, index)).collect())
            .collect::<Result<Vec<Vec<Value>>, DbError>>()?;
        Ok((columns, rows))
    }

    /// Whether the connection has ended (the server went away); a closed one never reopens.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    pub fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        Ok(futures::executor::block_on(self.client.batch_execute(sql))?)
    }

    /// Starts a transaction that writers of this store take one at a time.
    pub fn begin_exclusive(&self) -> String {
        format!("BEGIN; SELECT pg_advisory_xact_lock({})", self.lock_key)
    }
}

fn drive(
    config: Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    sender: mpsc::Sender<Result<Client, DbError>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = sender.send(Err(DbError::Decode(format!(
                "could not start its runtime: {error}"
            ))));
            return;
        }
    };
    runtime.block_on(async move {
        match config.connect(tls).await {
            Ok((client, connection)) => {
                if sender.send(Ok(client)).is_ok() {
                    // Ends when the client is dropped or the server goes away; a query made
                    // after that fails with "connection closed".
                    let _ = connection.await;
                }
            }
            Err(error) => {
                let _ = sender.send(Err(error.into()));
            }
        }
    });
}

fn tls(ca_pem: Option<&[u8]>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, DbError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|error| DbError::Decode(format!("ca_file: {error}")))?;
            roots
                .add(cert)
                .map_err(|error| DbError::Decode(format!("ca_file: {error}")))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| DbError::Decode(format!("TLS: {error}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A stable number per schema for the advisory lock that orders its writers.
fn lock_key(schema: &str) -> i64 {
    // FNV-1a: stable across builds and platforms, unlike the std hasher.
    let hash = schema
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// `name` as a quoted identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn read(row: &tokio_postgres::Row, index: usize) -> Result<Value, DbError> {
    let ty = row.columns()[index].type_().clone();
    let value = if ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(index)?.map(Value::Int)
    } else if ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(index)?
            .map(|n| Value::Int(n.into()))
    } else if ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(index)?
            .map(|n| Value::Int(n.into()))
    } else if ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(index)?
            .map(|b| Value::Int(b.into()))
    } else {
        row.try_get::<_, Option<String>>(index)?.map(Value::Text)
    };
    Ok(value.unwrap_or(Value::Null))
}

/// A [`Value`] bound as whatever type PostgreSQL inferred for its placeholder.
#[derive(Debug)]
struct Bound(Value);

fn bind(params: &[Value]) -> Vec<Bound> {
    params.iter().cloned().map(Bound).collect()
}

fn refs(params: &[Bound]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Bound {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) if *ty == Type::INT8 => n.to_sql(ty, out),
            Value::Int(n) if *ty == Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
            Value::Int(n) if *ty == Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
            Value::Int(n) if *ty == Type::BOOL => (*n != 0).to_sql(ty, out),
            Value::Int(n) => n.to_string().to_sql(&Type::TEXT, out),
            // PostgreSQL text cannot hold NUL, which a hostile server may put in an error
            // message: it is stored as U+FFFD, and looked up the same way.
            Value::Text(text) if text.contains('\0') => {
                text.replace('\0', "\u{FFFD}").to_sql(&Type::TEXT, out)
            }
            Value::Text(text) => text.as_str().to_sql(&Type::TEXT, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The server's own words for an error, with its code, where it gives them, and the `[state]`
/// setting to check when the connection itself failed.
pub fn describe(error: &tokio_postgres::Error) -> String {
    let words = match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match error.source() {
            // The error's own text already ends with its source's where it has one.
            Some(source) if !error.to_string().contains(&source.to_string()) => {
                format!("{error}: {source}")
            }
            _ => error.to_string(),
        },
    };
    match setting_to_check(error, &words) {
        Some(hint) => format!("{words} (check {hint})"),
        None => words,
    }
}

fn setting_to_check(error: &tokio_postgres::Error, words: &str) -> Option<&'static str> {
    use tokio_postgres::error::SqlState;
    if let Some(code) = error.code() {
        return match *code {
            SqlState::INVALID_PASSWORD | SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
                Some("the user in state.url and state.password_env or state.password_file")
            }
            SqlState::INVALID_CATALOG_NAME => Some("the database named in state.url"),
            _ => None,
        };
    }
    if words.contains("certificate") || words.contains("TLS") || words.contains("tls") {
        Some("state.ca_file: the CA that signed the server's certificate")
    } else if words.contains("password") {
        Some("state.password_env or state.password_file")
    } else if words.contains("connect") || words.contains("refused") || words.contains("timed out")
    {
        Some("the host and port in state.url, and that the server runs")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_url_has_no_password() {
        let target = PgTarget {
            url: "postgres://flex:s3cret@db.example:5432/flexsync?sslmode=require".into(),
            password: None,
            schema: "acme".into(),
            ca_pem: None,
        };
        let shown = target.display();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(
            shown,
            "postgres://flex@db.example:5432/flexsync?sslmode=require#acme"
        );
    }

    #[test]
    fn each_schema_has_its_own_lock() {
        assert_ne!(lock_key("acme"), lock_key("globex"));
        assert_eq!(lock_key("acme"), lock_key("acme"));
    }
}
