//! How a step's processes are started: trusted steps' processes run as
//! they are (own process group, scrubbed environment); untrusted steps'
//! processes run inside bubblewrap with no network, the workspace as the only
//! writable path, a fresh `/tmp`, their own pid namespace (all die with the
//! step), and resource limits (CPU time, address space, process count). If
//! bubblewrap is missing, untrusted processes are refused, never run bare.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::plan::Trust;
use crate::sandbox::policy::StepPolicy;

/// Read-only system paths visible inside the confinement (when present).
/// `/etc` is not bound whole: it holds secrets readable by root.
const RO_PATHS: [&str; 13] = [
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/passwd",
    "/etc/group",
    "/etc/localtime",
];

/// Max processes (threads included) in one confined process tree.
pub const MAX_PROCESSES: u64 = 128;

/// The host's means of confinement, found once per run.
#[derive(Debug, Clone)]
pub struct Confinement {
    bwrap: Result<PathBuf, String>,
}

/// What to run, where, for which step.
#[derive(Clone, Copy)]
pub struct Spec<'a> {
    pub program: &'a Path,
    pub args: &'a [String],
    pub env: &'a [(String, String)],
    pub workspace: &'a Path,
    /// The project's source, bound read-only at `/src` (without `.baton/`).
    pub src: Option<&'a Path>,
    pub cwd: &'a Path,
    /// Names the process tree's cgroup (`board.step-attempt`).
    pub label: &'a str,
}

/// A process ready to be started: what to exec and what to set up in the
/// child before exec.
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// `(resource, limit)` pairs for `setrlimit`.
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    /// The pids cgroup of the process tree, if the host has one to give.
    pub cgroup: Option<PidsCgroup>,
}

impl Confinement {
    /// Finds bubblewrap: `$BATON_BWRAP` if set (a path, or `none` to act as
    /// if it were missing), else `bwrap` on `PATH`.
    pub fn detect() -> Self {
        let bwrap = match std::env::var_os("BATON_BWRAP") {
            Some(v) if v == "none" => Err("bubblewrap is disabled (BATON_BWRAP=none)".into()),
            Some(v) => Ok(PathBuf::from(v)),
            None => which("bwrap").ok_or_else(|| {
                "bubblewrap (`bwrap`) is not installed; untrusted steps may not run processes without it \
                 (install the Debian package `bubblewrap`)"
                    .to_string()
            }),
        };
        Self { bwrap }
    }

    /// Whether untrusted processes can be confined here.
    pub fn available(&self) -> Result<&Path, &str> {
        self.bwrap.as_deref().map_err(String::as_str)
    }

    /// Prepares a process of a step with `policy`.
    pub fn launch(&self, policy: &StepPolicy, spec: &Spec<'_>) -> Result<Launch, String> {
        let Spec { program, args, env, workspace, src, cwd, label } = *spec;
        match policy.trust {
            Trust::Trusted => Ok(Launch {
                program: program.to_path_buf(),
                args: args.iter().map(OsString::from).collect(),
                rlimits: Vec::new(),
                cgroup: None,
            }),
            Trust::Untrusted => {
                let bwrap = self.bwrap.as_ref().map_err(Clone::clone)?;
                let mut a: Vec<OsString> = Vec::new();
                let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
                push(&["--unshare-all", "--die-with-parent", "--new-session", "--hostname", "baton-sandbox"]);
                push(&["--clearenv"]);
                for p in RO_PATHS {
                    push(&["--ro-bind-try", p, p]);
                }
                push(&["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]);
                if let Some(src) = src {
                    a.extend(["--ro-bind".into(), src.into(), "/src".into()]);
                    a.extend(["--tmpfs", "/src/.baton", "--remount-ro", "/src/.baton"].map(OsString::from));
                }
                a.push("--bind".into());
                a.push(workspace.into());
                a.push(workspace.into());
                a.push("--chdir".into());
                a.push(cwd.into());
                a.extend(setenv_args(env));
                a.push("--".into());
                a.push(program.into());
                a.extend(args.iter().map(OsString::from));
                let cpu = policy.cpu.map(|d| d.as_secs().max(1)).unwrap_or(300);
                Ok(Launch {
                    program: bwrap.clone(),
                    args: a,
                    rlimits: vec![
                        (libc::RLIMIT_CPU, cpu),
                        (libc::RLIMIT_AS, policy.memory.max(64 << 20)),
                        (libc::RLIMIT_NPROC, MAX_PROCESSES),
                        (libc::RLIMIT_CORE, 0),
                    ],
                    cgroup: PidsCgroup::create(label, MAX_PROCESSES),
                })
            }
        }
    }
}

/// Environment passed through bubblewrap: `--clearenv` empties it inside,
/// so the variables are set again with `--setenv` before the program.
fn setenv_args(env: &[(String, String)]) -> Vec<OsString> {
    let mut out = Vec::with_capacity(env.len() * 3);
    for (k, v) in env {
        out.push("--setenv".into());
        out.push(k.into());
        out.push(v.into());
    }
    out
}

/// A `pids` cgroup capping the number of processes of one confined tree
/// (cgroup v1 `pids` controller or cgroup v2), when the host lets baton
/// create one. Removed on drop.
pub struct PidsCgroup {
    dir: PathBuf,
    /// `cgroup.procs`, opened in the parent; the child writes `0` to it
    /// before exec to move itself in.
    pub procs: std::fs::File,
}

impl PidsCgroup {
    fn create(label: &str, max: u64) -> Option<Self> {
        static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
        let root = ROOT.get_or_init(find_pids_root).as_ref()?;
        let dir = root.join(format!("{}-{}", sanitize(label), unique()));
        std::fs::create_dir(&dir).ok()?;
        let setup = || -> std::io::Result<std::fs::File> {
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("pids.max"))?
                .write_all(max.to_string().as_bytes())?;
            std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs"))
        };
        match setup() {
            Ok(procs) => Some(Self { dir, procs }),
            Err(_) => {
                let _ = std::fs::remove_dir(&dir);
                None
            }
        }
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        // Anything still inside is killed; then the group can be removed.
        if let Ok(text) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: plain syscall on a pid of this cgroup.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// `/sys/fs/cgroup/pids/baton` (v1) or `/sys/fs/cgroup/baton` (v2) if baton
/// may create groups there.
fn find_pids_root() -> Option<PathBuf> {
    let v1 = Path::new("/sys/fs/cgroup/pids");
    let v2 = Path::new("/sys/fs/cgroup");
    let base = if v1.join("cgroup.procs").exists() {
        v1.to_path_buf()
    } else if std::fs::read_to_string(v2.join("cgroup.subtree_control")).is_ok_and(|s| s.contains("pids")) {
        v2.to_path_buf()
    } else {
        return None;
    };
    let root = base.join(format!("baton-{}", std::process::id()));
    std::fs::create_dir_all(&root).ok()?;
    Some(root)
}

fn sanitize(label: &str) -> String {
    label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Finds `name` on the host's `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Removes this process's cgroup root at exit (best effort).
pub fn cleanup_cgroups() {
    for base in ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"] {
        let _ = std::fs::remove_dir(Path::new(base).join(format!("baton-{}", std::process::id())));
    }
}
