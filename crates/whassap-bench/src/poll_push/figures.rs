//! The outcome of a run: every phase's figures, by name.

use super::{Params, Phase};
use crate::procfs;
use crate::session::percentile;
use crate::Outcome;

/// Figure names of a mode: `post-only` → `post_only_…`.
fn key(phase: &str, figure: &str) -> String {
    format!("{}_{figure}", phase.replace('-', "_"))
}

/// Put every phase's figures in the outcome.
pub(super) fn record(out: &mut Outcome, params: &Params, phases: &[Phase]) {
    let baseline = phases.iter().find(|p| p.name == "post-only");
    let acked = |p: &Phase| p.posts.iter().filter(|x| x.acked.is_some()).count();
    // CPU of posting alone per acknowledged post: (total, kernel).
    let per_post = baseline.and_then(|b| {
        let n = acked(b) as f64;
        let cpu = b.window.server_cpu_ms?;
        (n > 0.0).then(|| (cpu / n, b.window.server_sys_ms.unwrap_or(0.0) / n))
    });
    let mut acks = Vec::new();
    for p in phases {
        let k = |f: &str| key(p.name, f);
        let posts = acked(p) as f64;
        acks.extend(
            p.posts
                .iter()
                .filter_map(|x| Some((x.acked? - x.sent).as_secs_f64() * 1000.0)),
        );
        out.figure(&k("posts"), posts)
            .figure(&k("wall_s"), p.window.wall_s)
            .figure(&k("generator_load"), p.window.generator_load);
        out.generator_saturated |= p.window.generator_load > 0.9;
        if let Some(cpu) = p.window.server_cpu_ms {
            let sys = p.window.server_sys_ms.unwrap_or(0.0);
            out.figure(&k("server_cpu_ms"), cpu)
                .figure(&k("server_user_cpu_ms"), cpu - sys)
                .figure(&k("server_kernel_cpu_ms"), sys);
            if p.name == "post-only" && posts > 0.0 {
                out.figure(&k("server_cpu_us_per_post"), cpu / posts * 1000.0);
            }
        }
        if p.name == "post-only" {
            continue;
        }
        let delivered = p.staleness_ms.len() as f64;
        out.figure(&k("expected"), p.expected as f64)
            .figure(&k("delivered"), delivered)
            .figure(&k("lost"), p.expected as f64 - delivered)
            .figure(&k("requests"), p.requests as f64)
            .figure(&k("setup_requests"), p.setup_requests as f64)
            .figure(&k("bytes_received"), p.bytes_received as f64)
            .figure(&k("bytes_sent"), p.bytes_sent as f64)
            .figure(&k("before_ack"), p.before_ack as f64)
            .figure(&k("staleness_p50_ms"), percentile(&p.staleness_ms, 0.5))
            .figure(
                &k("staleness_mean_ms"),
                p.staleness_ms.iter().sum::<f64>() / delivered.max(1.0),
            )
            .figure(&k("staleness_p99_ms"), percentile(&p.staleness_ms, 0.99))
            .figure(
                &k("staleness_max_ms"),
                p.staleness_ms.last().copied().unwrap_or(0.0),
            );
        if let Some(cpu) = p.setup.server_cpu_ms {
            out.figure(&k("setup_server_cpu_ms"), cpu);
        }
        if delivered > 0.0 {
            out.figure(&k("requests_per_status"), p.requests as f64 / delivered)
                .figure(
                    &k("bytes_per_status"),
                    (p.bytes_received + p.bytes_sent) as f64 / delivered,
                );
            if let Some(cpu) = p.window.server_cpu_ms {
                let sys = p.window.server_sys_ms.unwrap_or(0.0);
                let (post_cpu, post_sys) = per_post.unwrap_or((0.0, 0.0));
                let net = cpu - post_cpu * posts;
                let net_sys = (sys - post_sys * posts).clamp(0.0, net.max(0.0));
                out.figure(
                    &k("server_cpu_us_per_status_gross"),
                    cpu / delivered * 1000.0,
                );
                // What the consumers added must be measurable: /proc counts
                // CPU time in ticks.
                if net >= procfs::TICK_MS {
                    out.figure(&k("server_cpu_us_per_status"), net / delivered * 1000.0)
                        .figure(
                            &k("server_user_cpu_us_per_status"),
                            (net - net_sys) / delivered * 1000.0,
                        );
                }
            }
        }
    }
    acks.sort_by(f64::total_cmp);
    out.figure("post_ack_p50_ms", percentile(&acks, 0.5))
        .figure("post_ack_p99_ms", percentile(&acks, 0.99));
    if params.users > 0 {
        out.figure(
            "followers_per_user",
            (params.consumers * params.follows) as f64 / params.users as f64,
        );
    }
    let per_status = |m: &str| {
        out.figures
            .get(&key(m, "server_cpu_us_per_status"))
            .copied()
    };
    let poll = per_status("poll");
    let ratios: Vec<(String, f64)> = ["pep", "sse"]
        .into_iter()
        .filter_map(|push| {
            let v = per_status(push).filter(|v| *v > 0.0)?;
            Some((format!("poll_over_{push}_cpu"), poll? / v))
        })
        .collect();
    for (name, ratio) in ratios {
        out.figure(&name, ratio);
    }
}
