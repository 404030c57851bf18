//! `whassap-bench`: see [`whassap_bench::cli`].

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    whassap_bench::cli::run(std::env::args_os()).await
}
