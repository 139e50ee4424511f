//! `baton worker --nats URL`: joins a cluster (see [`crate::cluster`]) and
//! runs the attempts placed on it, beating every second with its name,
//! labels, jobs and running steps, until SIGTERM or Ctrl-C; then it lets
//! the running attempts end and leaves. `baton workers --nats URL` lists the live ones.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use crate::cluster::Cluster;
use crate::cluster::identity::Identity;
use crate::cluster::workers::{Accept, Heartbeat, check_name};
use crate::text::escape_text;

/// How baton talks to the NATS server (see `cluster::connect`).
#[derive(Debug, Args, Default)]
pub struct NatsSecurity {
    /// A CA certificate (PEM) the NATS server's TLS certificate must chain
    /// to (default: $BATON_NATS_CA); implies TLS.
    #[arg(long, value_name = "FILE")]
    pub nats_ca: Option<PathBuf>,
    /// Talk to a NATS server that lets in clients without credentials
    /// from another host, or in plain nats:// to one, or pass secrets
    /// through one: anyone who reaches it could then disrupt or fool runs.
    #[arg(long)]
    pub insecure: bool,
}

impl NatsSecurity {
    pub fn apply(&self) {
        crate::cluster::connect::set_insecure(self.insecure);
        crate::cluster::connect::set_ca(self.nats_ca.clone());
    }
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The cluster's NATS server, `nats://host:port` (default: $BATON_NATS).
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// The worker's name (default: the host name and process id).
    #[arg(long)]
    pub name: Option<String>,
    /// Attempts it runs at once (default: the number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Its workspaces, artifact cache, compiled plugins and step logs
    /// (default: `worker/NAME` in baton's cache directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// A label boards may require (`runs_on`), repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// How long a step may wait for a coordinator that does not answer
    /// (it was killed and not resumed) before this worker gives the step
    /// up, freeing its job slot; a resumed run then runs it again.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::units::parse_duration)]
    pub give_up_after: std::time::Duration,
    /// Which steps this worker takes: `untrusted` keeps it for strangers'
    /// code (trybots), `trusted` for reviewed code, `any` both.
    #[arg(long, value_enum, default_value = "any")]
    pub accept: Accept,
    #[command(flatten)]
    pub security: NatsSecurity,
}

#[derive(Debug, Args)]
pub struct WorkersArgs {
    /// The cluster's NATS server, `nats://host:port` (default: $BATON_NATS).
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// Print the live workers' heartbeats as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub security: NatsSecurity,
}

/// `--nats`, else `$BATON_NATS`, else an error saying so.
pub fn nats_url(flag: Option<String>) -> anyhow::Result<String> {
    let env = std::env::var(crate::env_vars::NATS).ok().filter(|v| !v.is_empty());
    flag.or(env).ok_or_else(|| anyhow::anyhow!("no NATS server given: pass --nats nats://HOST:PORT or set BATON_NATS"))
}

/// `KEY=VALUE` labels; keys are letters, digits, `-`, `_`.
fn parse_labels(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    for l in raw {
        let shown = escape_text(l);
        let (k, v) = l.split_once('=').ok_or_else(|| anyhow::anyhow!("invalid --label `{shown}`: write KEY=VALUE"))?;
        let key_ok = !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !key_ok || v.is_empty() || v.chars().any(char::is_control) {
            anyhow::bail!(
                "invalid --label `{shown}`: the key takes letters, digits, `-` and `_`, the value is not empty"
            );
        }
        if labels.insert(k.to_string(), v.to_string()).is_some() {
            anyhow::bail!("--label `{shown}`: label `{k}` is given twice");
        }
    }
    Ok(labels)
}

/// The host name with anything a key cannot hold replaced by `-`, then the pid.
fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "worker".into());
    let host: String =
        host.trim().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    let host = if host.is_empty() { "worker".into() } else { host };
    format!("{}-{}", host.chars().take(48).collect::<String>(), std::process::id())
}

pub fn main(args: WorkerArgs) -> anyhow::Result<u8> {
    args.security.apply();
    let url = nats_url(args.nats)?;
    let name = args.name.unwrap_or_else(default_name);
    check_name(&name)?;
    let labels = parse_labels(&args.labels)?;
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if jobs == 0 {
        anyhow::bail!("--jobs must be at least 1");
    }
    let dir = match args.dir {
        Some(d) => d,
        None => crate::env_vars::cache_dir()
            .ok_or_else(|| anyhow::anyhow!("no cache directory (BATON_CACHE_DIR=off or no home): pass --dir DIR"))?
            .join("worker")
            .join(&name),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create the worker directory {}: {e}", dir.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // A fresh signing key per process: what it reports is believed only
    // with this key (see `cluster::identity`).
    let identity = std::sync::Arc::new(Identity::generate());
    let beat = Heartbeat {
        name,
        labels,
        jobs,
        running: Vec::new(),
        at_ms: 0,
        key: identity.public_hex(),
        accept: args.accept,
    };
    let result = rt.block_on(serve(url, beat, identity, dir, args.give_up_after));
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    crate::sandbox::cgroup::cleanup_cgroups();
    crate::sandbox::scratch::cleanup();
    result
}

async fn serve(
    url: String,
    beat: Heartbeat,
    identity: std::sync::Arc<Identity>,
    dir: PathBuf,
    give_up_after: std::time::Duration,
) -> anyhow::Result<u8> {
    // On a thread of its own: a second signal ends the worker even when
    // every runtime thread is stuck.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    // Held here too: the worker does not stop if the watcher cannot start.
    let stop_tx = std::sync::Arc::new(stop_tx);
    let _held = stop_tx.clone();
    super::stop_signals::watch(move || {
        let _ = stop_tx.send(true);
    });
    let cluster = Cluster::connect(&url).await?;
    if cluster.workers.live().await?.iter().any(|w| w.name == beat.name) {
        anyhow::bail!("a live worker named `{}` already beats on {}: choose another --name", beat.name, cluster.url);
    }
    cluster.workers.beat(&beat).await?;
    let labels: Vec<String> = beat.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    eprintln!(
        "worker {} joined {} (jobs {}, accepts {}, labels: {})",
        beat.name,
        crate::cluster::connect::shown_url(&url),
        beat.jobs,
        beat.accept.as_str(),
        if labels.is_empty() { "none".to_string() } else { escape_text(&labels.join(", ")).into_owned() }
    );
    let name = beat.name.clone();
    let stop = async move {
        let _ = stop_rx.wait_for(|stopped| *stopped).await;
    };
    crate::cluster::serve::serve(cluster, beat, identity, dir, give_up_after, stop).await?;
    eprintln!("worker {name} left");
    Ok(0)
}

pub fn list(args: WorkersArgs) -> anyhow::Result<u8> {
    args.security.apply();
    let url = nats_url(args.nats)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let live = rt.block_on(async {
        let cluster = Cluster::connect(&url).await?;
        cluster.workers.live().await
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&live)?);
        return Ok(0);
    }
    if live.is_empty() {
        println!(
            "no live workers on {0} (start one with `baton worker --nats {0}`)",
            crate::cluster::connect::shown_url(&url)
        );
        return Ok(0);
    }
    println!("{:<24} {:>4} {:>7} {:>9}  {:<9}  LABELS", "NAME", "JOBS", "RUNNING", "HEARTBEAT", "ACCEPTS");
    for w in &live {
        let labels: Vec<String> = w.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let age = format!("{:.1}s ago", w.age().as_secs_f64());
        let (running, accepts) = (w.running.len(), w.accept.as_str());
        let line = format!("{:<24} {:>4} {running:>7} {age:>9}  {accepts:<9}  {}", w.name, w.jobs, labels.join(","));
        println!("{}", escape_text(&line));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_key_value_pairs() {
        let l = parse_labels(&["os=linux".into(), "gpu=a100".into()]).unwrap();
        assert_eq!(l.get("os").map(String::as_str), Some("linux"));
        let err = |raw: &str| parse_labels(&[raw.to_string()]).unwrap_err().to_string();
        assert_eq!(err("linux"), "invalid --label `linux`: write KEY=VALUE");
        assert_eq!(
            err("o s=linux"),
            "invalid --label `o s=linux`: the key takes letters, digits, `-` and `_`, the value is not empty"
        );
        let twice = parse_labels(&["os=a".into(), "os=b".into()]).unwrap_err().to_string();
        assert_eq!(twice, "--label `os=b`: label `os` is given twice");
    }

    #[test]
    fn default_names_are_valid_keys() {
        assert!(check_name(&default_name()).is_ok());
    }
}
