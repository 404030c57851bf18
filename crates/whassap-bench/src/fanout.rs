//! `pubsub-fanout` and `pep-fanout`: one publisher, S subscribers, M items
//! published one after another; the time from each publish to its last
//! delivery, deliveries per second and server CPU per 1,000 deliveries.

use std::time::{Duration, Instant};

use base64::Engine;
use minidom::Element;
use sha1::Digest;
use tokio::sync::mpsc;
use whassap_client::Client;

use crate::procfs::Sample;
use crate::session::{answer_disco, go_online, percentile, progress, stanza, Target};
use crate::Outcome;

const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const MICROBLOG: &str = "urn:xmpp:microblog:0";
const CAPS_NODE: &str = "https://whassap.invalid/bench";

/// Where the items go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A node on the PubSub service, explicit subscriptions.
    PubSub,
    /// The publisher's PEP microblog node, contacts with caps `+notify`.
    Pep,
}

/// The features the subscribers announce, and their caps hash.
fn caps() -> (Vec<String>, String) {
    let mut features = vec![
        "http://jabber.org/protocol/caps".to_string(),
        "http://jabber.org/protocol/disco#info".to_string(),
        format!("{MICROBLOG}+notify"),
    ];
    features.sort();
    let s = format!("client/bot//whassap-bench<{}<", features.join("<"));
    let ver = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(s.as_bytes()));
    (features, ver)
}

fn item_number(el: &Element) -> Option<u64> {
    el.get_child("event", EVENT)?
        .get_child("items", EVENT)?
        .get_child("item", EVENT)?
        .attr("id")?
        .strip_prefix("bench-")?
        .parse()
        .ok()
}

async fn iq(c: &mut Client, xml: &str) -> Result<Element, String> {
    let r = c.iq(stanza(xml)).await.map_err(|e| e.to_string())?;
    if r.attr("type") == Some("result") {
        return Ok(r);
    }
    let condition = r
        .get_child("error", "jabber:client")
        .and_then(|e| e.children().next())
        .map(|c| c.name().to_string())
        .unwrap_or_else(|| "no error condition".into());
    Err(format!("request refused ({condition}): {xml}"))
}

/// Handle what a subscriber receives: answer caps queries, accept
/// subscription requests (and send the new contact its presence again, with
/// the caps, so that its PEP service learns of it), report events.
async fn serve_subscriber(
    mut c: Client,
    features: Vec<String>,
    presence: Option<String>,
    arrivals: mpsc::UnboundedSender<(u64, Instant, usize)>,
    index: usize,
) {
    while let Ok(el) = c.recv().await {
        if let Some(n) = item_number(&el) {
            let _ = arrivals.send((n, Instant::now(), index));
            continue;
        }
        if el.name() == "presence" && el.attr("type") == Some("subscribe") {
            if let Some(from) = el.attr("from") {
                let ok = format!("<presence xmlns='jabber:client' type='subscribed' to='{from}'/>");
                let _ = c.send(&stanza(&ok)).await;
                if let Some(p) = &presence {
                    let _ = c.send(&stanza(p)).await;
                }
            }
            continue;
        }
        if answer_disco(&mut c, &el, &features).await.is_err() {
            break;
        }
    }
}

/// The publisher's side of PEP set-up: approve every subscription request
/// and subscribe back (mutual subscriptions, which every server's PEP
/// delivery understands).
async fn approve_all(mut c: Client, stop: tokio::sync::oneshot::Receiver<()>) -> Client {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return c,
            el = c.recv() => {
                let Ok(el) = el else { return c };
                if el.name() == "presence" && el.attr("type") == Some("subscribe") {
                    if let Some(from) = el.attr("from") {
                        let from = from.to_string();
                        for t in ["subscribed", "subscribe"] {
                            let p = format!("<presence xmlns='jabber:client' type='{t}' to='{from}'/>");
                            let _ = c.send(&stanza(&p)).await;
                        }
                    }
                }
            }
        }
    }
}

/// Run: account 0 publishes, accounts `1..=subscribers` receive.
pub async fn run(target: &Target, via: Via, subscribers: usize, items: usize) -> Outcome {
    run_from(target, None, via, subscribers, items).await
}

/// As [`run`], with the publisher on another server when `publisher` is
/// given (federation: the subscribers, on `target`, follow a node of the
/// publisher's server's PubSub service, named by `target.pubsub`).
pub async fn run_from(
    target: &Target,
    publisher: Option<&Target>,
    via: Via,
    subscribers: usize,
    items: usize,
) -> Outcome {
    let scenario = match via {
        Via::PubSub => "pubsub-fanout",
        Via::Pep => "pep-fanout",
    };
    let mut out = Outcome::new(&target.label, scenario);
    out.param("subscribers", subscribers as f64)
        .param("items", items as f64);
    out.errors
        .extend(crate::login::warm_up(target, subscribers + 1, 50).await);
    let timeout = target.timeout;
    let mut publisher = match publisher.unwrap_or(target).connect(0).await {
        Ok(c) => c,
        Err(e) => {
            out.errors.push(e);
            return out;
        }
    };
    publisher = match go_online(publisher, "<presence xmlns='jabber:client'/>", &[], timeout).await
    {
        Ok(c) => c,
        Err(e) => {
            out.errors.push(e);
            return out;
        }
    };
    let node = match via {
        Via::PubSub => format!("bench-{}-{}", std::process::id(), rand_suffix()),
        Via::Pep => MICROBLOG.to_string(),
    };
    let service_to = match via {
        Via::PubSub => format!(" to='{}'", target.pubsub),
        Via::Pep => String::new(),
    };
    if via == Via::PubSub {
        let create = format!("<iq xmlns='jabber:client' type='set'{service_to}><pubsub xmlns='{PUBSUB}'><create node='{node}'/></pubsub></iq>");
        if let Err(e) = iq(&mut publisher, &create).await {
            out.errors.push(format!("creating the node failed: {e}"));
            return out;
        }
    }
    let (features, ver) = caps();
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let mut kept = Some(publisher);
    let approver = match via {
        Via::Pep => kept.take().map(|p| tokio::spawn(approve_all(p, stop_rx))),
        Via::PubSub => None,
    };
    let publisher_jid = target.jid(0);
    let (subs, errors) = {
        let (features, ver, node, pubsub, publisher_jid) = (
            features.clone(),
            ver.clone(),
            node.clone(),
            target.pubsub.clone(),
            publisher_jid.clone(),
        );
        target
            .connect_range(1, subscribers + 1, 50, "subscribing", move |mut c| {
                let (features, ver, node, pubsub, publisher_jid) = (
                    features.clone(),
                    ver.clone(),
                    node.clone(),
                    pubsub.clone(),
                    publisher_jid.clone(),
                );
                async move {
                    match via {
                        Via::PubSub => {
                            let jid = c.jid().to_string();
                            let sub = format!("<iq xmlns='jabber:client' type='set' to='{pubsub}'><pubsub xmlns='{PUBSUB}'><subscribe node='{node}' jid='{jid}'/></pubsub></iq>");
                            iq(&mut c, &sub).await?;
                            Ok(c)
                        }
                        Via::Pep => {
                            let _ = c
                                .iq(stanza("<iq xmlns='jabber:client' type='get'><query xmlns='jabber:iq:roster'/></iq>"))
                                .await;
                            let presence = format!("<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='{CAPS_NODE}' ver='{ver}'/></presence>");
                            let mut c = go_online(c, &presence, &features, timeout).await?;
                            let s = format!("<presence xmlns='jabber:client' type='subscribe' to='{publisher_jid}'/>");
                            c.send(&stanza(&s)).await.map_err(|e| e.to_string())?;
                            Ok(c)
                        }
                    }
                }
            })
            .await
    };
    out.errors.extend(errors);
    let connected = subs.len();
    let caps_presence = (via == Via::Pep).then(|| format!("<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='{CAPS_NODE}' ver='{ver}'/></presence>"));
    let indices: Vec<usize> = subs
        .iter()
        .filter_map(|c| {
            let user = c.jid().split('@').next()?;
            user.strip_prefix(target.prefix.as_str())?.parse().ok()
        })
        .collect();
    for (c, index) in subs.into_iter().zip(indices.iter().copied()) {
        tokio::spawn(serve_subscriber(
            c,
            features.clone(),
            caps_presence.clone(),
            arrivals_tx.clone(),
            index,
        ));
    }
    let mut publisher = match approver {
        Some(task) => {
            // Let the subscription handshakes and caps queries settle.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let _ = stop_tx.send(());
            match task.await {
                Ok(c) => c,
                Err(e) => {
                    out.errors.push(format!("publisher task: {e}"));
                    return out;
                }
            }
        }
        None => {
            drop(stop_tx);
            match kept.take() {
                Some(c) => c,
                None => return out,
            }
        }
    };
    progress(&format!(
        "{}: {connected} subscribers ready; publishing {items} items",
        target.label
    ));
    // A first, unmeasured item: every delivery path is warm, and PEP
    // subscribers that are not reached are counted before measuring.
    let publish = |n: u64| {
        format!("<iq xmlns='jabber:client' type='set'{service_to}><pubsub xmlns='{PUBSUB}'><publish node='{node}'><item id='bench-{n}'><entry xmlns='http://www.w3.org/2005/Atom'><title type='text'>status {n}</title></entry></item></publish></pubsub></iq>")
    };
    // A loaded server may still be settling subscriptions and caps queries
    // (PEP): warm-up items are published until one reaches every subscriber,
    // or for at most WARM_UP_TRIES, and only then is anything measured.
    let mut warm_up = 0;
    let (reached, got) = loop {
        let n = WARM_UP_BASE + warm_up;
        let wait = if warm_up + 1 == WARM_UP_TRIES {
            timeout
        } else {
            WARM_UP_WAIT
        };
        match publish_and_wait(
            &mut publisher,
            &publish(n),
            n,
            connected,
            &mut arrivals,
            wait,
        )
        .await
        {
            Ok((reached, _, got)) if reached == connected || warm_up + 1 == WARM_UP_TRIES => {
                break (reached, got);
            }
            Ok(_) => warm_up += 1,
            Err(e) => {
                out.errors.push(e);
                return out;
            }
        }
    };
    let missing: Vec<String> = indices
        .iter()
        .filter(|i| !got.contains(i))
        .map(|i| target.user(*i))
        .collect();
    if !missing.is_empty() {
        progress(&format!(
            "{}: not reached by the first item: {}",
            target.label,
            missing.join(" ")
        ));
    }
    out.figure("subscribers_reached", reached as f64);
    let before = Sample::take(&target.pids);
    let mut latencies = Vec::with_capacity(items);
    let mut delivered = 0usize;
    for n in 1..=items as u64 {
        match publish_and_wait(
            &mut publisher,
            &publish(n),
            n,
            reached,
            &mut arrivals,
            timeout,
        )
        .await
        {
            Ok((got, last, _)) => {
                delivered += got;
                latencies.push(last.as_secs_f64() * 1000.0);
            }
            Err(e) => {
                out.errors.push(e);
                break;
            }
        }
    }
    let delta = before.until(&Sample::take(&target.pids));
    out.phase(
        &delta,
        delivered as f64,
        1000.0,
        "server_cpu_ms_per_1000_deliveries",
    );
    latencies.sort_by(f64::total_cmp);
    out.figure("deliveries", delivered as f64)
        .figure(
            "deliveries_per_s",
            delivered as f64 / delta.wall_s.max(1e-9),
        )
        .figure("last_delivery_p50_ms", percentile(&latencies, 0.5))
        .figure("last_delivery_p99_ms", percentile(&latencies, 0.99));
    out
}

/// Publish one item and wait until `expected` subscribers have it (or the
/// timeout): how many did, and the time to the last of them.
/// Item numbers of the unmeasured warm-up items (measured ones are 1..=M).
const WARM_UP_BASE: u64 = 1_000_000;
/// Warm-up items published at most, and how long each waits for everyone.
const WARM_UP_TRIES: u64 = 10;
const WARM_UP_WAIT: Duration = Duration::from_secs(2);

async fn publish_and_wait(
    publisher: &mut Client,
    xml: &str,
    n: u64,
    expected: usize,
    arrivals: &mut mpsc::UnboundedReceiver<(u64, Instant, usize)>,
    timeout: Duration,
) -> Result<(usize, Duration, std::collections::HashSet<usize>), String> {
    let t0 = Instant::now();
    iq(publisher, xml).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut got = std::collections::HashSet::new();
    let mut last = t0;
    while got.len() < expected {
        match tokio::time::timeout_at(deadline, arrivals.recv()).await {
            Ok(Some((m, at, who))) if m == n => {
                got.insert(who);
                last = last.max(at);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    Ok((got.len(), last - t0, got))
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000)
        .unwrap_or(0)
}
