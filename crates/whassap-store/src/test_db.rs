//! The store's unit tests run on both databases: each test is an
//! `async fn(Db)`, and [`on_both!`] makes a SQLite and a PostgreSQL test of
//! it (the latter on a fresh database when `WHASSAP_TEST_POSTGRES` is set;
//! see [`crate::testing`]).

use crate::Store;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Db<'a> {
    /// A private in-memory SQLite database.
    Sqlite,
    /// The PostgreSQL database at this URL (empty when the test starts).
    Postgres(&'a str),
}

impl Db<'_> {
    /// Open the store (the first call on PostgreSQL also migrates).
    pub(crate) async fn open(self) -> Store {
        match self {
            Db::Sqlite => Store::open_memory().await.unwrap(),
            Db::Postgres(url) => Store::open_postgres(url).await.unwrap(),
        }
    }
}

/// `on_both!(a, b)`: `sqlite::a`, `postgres::a`, `sqlite::b`, … as tests.
macro_rules! on_both {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::test_db::Db::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(db) = $crate::testing::TempDatabase::create(stringify!($test)).await
                    else {
                        return;
                    };
                    super::$test($crate::test_db::Db::Postgres(&db.url)).await
                }
            )*
        }
    };
}
pub(crate) use on_both;
