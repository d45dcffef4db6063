//! One code path over both backends: the values a statement takes and returns, and the
//! connection (SQLite or PostgreSQL) that runs it. Statements are written once, with `?1`-style
//! placeholders and SQL both databases speak; PostgreSQL gets them as `$1`.

use crate::pg::PgConn;

/// A value bound to a statement or read from a row. The schema uses integers and text only
/// (times as RFC 3339 text, JSON as text, flags as 0 or 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// What can be bound to a placeholder (borrowed, as `params!` takes its values).
pub trait ToValue {
    fn to_value(&self) -> Value;
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

/// The values of a statement's placeholders, in order.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::db::ToValue::to_value(&$value)),*]
    };
}
pub(crate) use params;

/// Reading one column's value as a Rust type; `None` when it has another type.
pub trait FromValue: Sized {
    fn from_value(value: Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Int(n) => Some(n),
            _ => None,
        }
    }
}

impl FromValue for bool {
    fn from_value(value: Value) -> Option<Self> {
        i64::from_value(value).map(|n| n != 0)
    }
}

impl FromValue for String {
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// Reading a whole row (a tuple of the selected columns); `Err` names the column that did not fit.
pub trait FromRow: Sized {
    fn from_row(row: Vec<Value>) -> Result<Self, String>;
}

macro_rules! tuple_from_row {
    ($($name:ident),+) => {
        impl<$($name: FromValue),+> FromRow for ($($name,)+) {
            fn from_row(row: Vec<Value>) -> Result<Self, String> {
                let mut values = row.into_iter().enumerate();
                Ok(($({
                    let (index, value) = values
                        .next()
                        .ok_or_else(|| "the row has too few columns".to_string())?;
                    $name::from_value(value.clone())
                        .ok_or_else(|| format!("column {index} holds an unexpected {value:?}"))?
                },)+))
            }
        }
    };
}

tuple_from_row!(A);
tuple_from_row!(A, B);
tuple_from_row!(A, B, C);
tuple_from_row!(A, B, C, D);
tuple_from_row!(A, B, C, D, E);
tuple_from_row!(A, B, C, D, E, F);
tuple_from_row!(A, B, C, D, E, F, G);
tuple_from_row!(A, B, C, D, E, F, G, H);
tuple_from_row!(A, B, C, D, E, F, G, H, I);
tuple_from_row!(A, B, C, D, E, F, G, H, I, J);

/// What a backend reported.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("{0}")]
    Decode(String),
}

/// Rows as read: the column names, then each row's values.
pub type Rows = (Vec<String>, Vec<Vec<Value>>);

/// A connection to one of the two backends.
pub enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(PgConn),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Sqlite(_) => "Conn::Sqlite",
            Conn::Postgres(_) => "Conn::Postgres",
        })
    }
}

impl Conn {
    /// Runs one statement and returns how many rows it changed.
    pub fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<usize, DbError> {
        match self {
            // Cached: the journal runs the same few statements for every step.
            Conn::Sqlite(conn) => Ok(conn
                .prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(&params))?),
            Conn::Postgres(conn) => conn.execute(sql, &params),
        }
    }

    /// Runs a query and returns its column names and rows.
    pub fn query(&mut self, sql: &str, params: Vec<Value>) -> Result<Rows, DbError> {
        match self {
            Conn::Sqlite(conn) => sqlite_query(conn, sql, &params),
            Conn::Postgres(conn) => conn.query(sql, &params),
        }
    }

    /// The rows of a query, each read as `T`.
    pub fn rows<T: FromRow>(&mut self, sql: &str, params: Vec<Value>) -> Result<Vec<T>, DbError> {
        let (_, rows) = self.query(sql, params)?;
        rows.into_iter()
            .map(|row| T::from_row(row).map_err(DbError::Decode))
            .collect()
    }

    /// Calls `each` with every row of a query, read as `T`, as the rows come: a large table is
    /// never held whole (PostgreSQL's answer is, by its client; SQLite's rows are read one by
    /// one).
    pub fn each_row<T: FromRow, E: From<DbError>>(
        &mut self,
        sql: &str,
        params: Vec<Value>,
        mut each: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut take = |row: Vec<Value>| each(T::from_row(row).map_err(DbError::Decode)?);
        match self {
            Conn::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql).map_err(DbError::from)?;
                let width = statement.column_count();
                let mut rows = statement
                    .query(rusqlite::params_from_iter(&params))
                    .map_err(DbError::from)?;
                while let Some(row) = rows.next().map_err(DbError::from)? {
                    let values = (0..width)
                        .map(|index| row.get_ref(index).map(sqlite_value))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(DbError::from)?;
                    take(values)?;
                }
                Ok(())
            }
            Conn::Postgres(conn) => {
                let (_, rows) = conn.query(sql, &params)?;
                rows.into_iter().try_for_each(take)
            }
        }
    }

    /// Runs statements separated by `;` without parameters (migrations).
    pub fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Conn::Postgres(conn) => conn.batch(sql),
        }
    }

    /// Runs `call` in one transaction, committed when it returns `Ok`, rolled back otherwise.
    /// Writers queue one behind the other from the start (SQLite `BEGIN IMMEDIATE`, a
    /// transaction-scoped advisory lock per store on PostgreSQL), so a read-then-write inside is
    /// never raced by another writer.
    pub fn transaction<T, E: From<DbError>>(
        &mut self,
        call: impl FnOnce(&mut Conn) -> Result<T, E>,
    ) -> Result<T, E> {
        let begin = match self {
            Conn::Sqlite(_) => "BEGIN IMMEDIATE".to_string(),
            Conn::Postgres(conn) => conn.begin_exclusive(),
        };
        self.batch(&begin)?;
        match call(self) {
            Ok(value) => {
                self.batch("COMMIT")?;
                Ok(value)
            }
            Err(error) => {
                // The transaction's error is the one to report; a failed rollback ends with
                // the connection anyway.
                let _ = self.batch("ROLLBACK");
                Err(error)
            }
        }
    }
}

fn sqlite_query(conn: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
    let mut statement = conn.prepare_cached(sql)?;
    let columns: Vec<String> = statement
        .column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let width = columns.len();
    let rows = statement
        .query_map(rusqlite::params_from_iter(params), |row| {
            (0..width)
                .map(|index| row.get_ref(index).map(sqlite_value))
                .collect::<Result<Vec<_>, rusqlite::Error>>()
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((columns, rows))
}

/// One SQLite column value as the store reads it.
fn sqlite_value(value: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Real(x) => Value::Text(x.to_string()),
        ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => Value::Text(format!("({} bytes)", bytes.len())),
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Value::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
        })
    }
}

/// `?1`, `?2`, ... as PostgreSQL's `$1`, `$2`, ... (no statement of ours has `?` in a literal).
pub fn dollar_placeholders(sql: &str) -> String {
    sql.replace('?', "$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_as_tuples_and_name_the_column_that_does_not_fit() {
        let row = vec![Value::Int(1), Value::Null, Value::Text("x".into())];
        let read: (i64, Option<String>, String) = FromRow::from_row(row.clone()).unwrap();
        assert_eq!(read, (1, None, "x".to_string()));
        let error = <(i64, i64, String)>::from_row(row).unwrap_err();
        assert!(error.contains("column 1"), "{error}");
    }

    #[test]
    fn placeholders_become_dollars() {
        assert_eq!(
            dollar_placeholders("SELECT a FROM t WHERE b = ?1 AND c LIKE ?2 || ':%'"),
            "SELECT a FROM t WHERE b = $1 AND c LIKE $2 || ':%'"
        );
    }
}
