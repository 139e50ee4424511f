//! How a step's processes are started. Every process tree of a step runs in
//! a container baton can kill as a whole: its own pid namespace (made by
//! baton as root, see [`super::pidns`], else by bubblewrap; when the tree's
//! first process ends, the namespace and all that is left in it die, `setsid`
//! or not, and `/proc` shows no host process, so nothing reads baton's
//! environment). Untrusted trees, and trusted ones where no namespace can be
//! made, are also in a pids cgroup that is emptied with SIGKILL at the end.
//!
//! Untrusted steps' processes run inside bubblewrap with no network, no
//! capability, the workspace as the only writable path, size-capped `/tmp`
//! and `/dev/shm`, a read-only `/dev`, resource limits, and, when baton runs
//! as root, as an unprivileged host user (see [`super::identity`]).
//! bubblewrap itself starts with an empty environment: the stage's variables
//! reach the program only through `--setenv`, so nothing a stage chooses
//! (`LD_PRELOAD`, `PATH`) affects a process in the host's namespaces. If
//! bubblewrap is missing, untrusted processes are refused, never run bare;
//! trusted ones run in their own process group and pids cgroup only.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::env_vars;
use crate::plan::Trust;
use crate::plan::policy::StepPolicy;
use crate::sandbox::cgroup::PidsCgroup;
use crate::sandbox::identity::Identity;
use crate::sandbox::staging::Staging;

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
    /// How trusted process trees get their pid namespace, found at the
    /// first trusted process.
    trusted: std::sync::Arc<std::sync::OnceLock<PidNamespace>>,
    /// The `.baton` directories of each project, covered under `/src`.
    state_dirs: crate::sandbox::state_dirs::StateDirs,
}

/// The means of a pid namespace for trusted processes.
#[derive(Debug, Clone)]
enum PidNamespace {
    /// Made in `pre_exec` (root with `CAP_SYS_ADMIN`; ~1 ms a process).
    Native,
    /// bubblewrap with the host's file system bound as it is (~13 ms).
    Bwrap(PathBuf),
    /// Neither works here (the reason): process group and cgroup only.
    Unavailable(String),
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
    /// Environment of `program` itself: empty when it is bubblewrap (the
    /// variables are passed inside with `--setenv`).
    pub env: Vec<(String, String)>,
    /// Host user and group to switch to before exec (untrusted, as root).
    pub identity: Option<Identity>,
    /// Make a pid namespace in `pre_exec` (see [`super::pidns`]).
    pub pid_namespace: bool,
    /// Directories to stage where the sandbox user can reach them (see
    /// [`super::staging`]); their descriptors close once the process started.
    pub staging: Option<Staging>,
    /// bubblewrap's arguments, in a memory file it reads with `--args FD`:
    /// the variables (secrets among them) never show in a host command line.
    pub args_file: Option<OwnedFd>,
    /// `(resource, limit)` pairs for `setrlimit`.
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    /// The pids cgroup of the process tree, if the host has one to give.
    pub cgroup: Option<PidsCgroup>,
}

impl Confinement {
    /// Finds bubblewrap: `$BATON_BWRAP` if set (a path, or `none` to act as
    /// if it were missing), else `bwrap` on `PATH`.
    pub fn detect() -> Self {
        let bwrap = match std::env::var_os(env_vars::BWRAP) {
            Some(v) if v == "none" => Err(format!("bubblewrap is disabled ({}=none)", env_vars::BWRAP)),
            Some(v) => Ok(PathBuf::from(v)),
            None => which("bwrap").ok_or_else(|| {
                "bubblewrap (`bwrap`) is not installed; untrusted steps may not run processes without it \
                 (install the Debian package `bubblewrap`)"
                    .to_string()
            }),
        };
        Self { bwrap, trusted: Default::default(), state_dirs: Default::default() }
    }

    fn pid_namespace(&self) -> &PidNamespace {
        self.trusted.get_or_init(|| {
            if has_sys_admin() {
                return PidNamespace::Native;
            }
            let bwrap = match &self.bwrap {
                Ok(b) => b,
                Err(why) => return PidNamespace::Unavailable(why.clone()),
            };
            let probe = std::process::Command::new(bwrap)
                .args(["--dev-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "--die-with-parent", "--", "true"])
                .env_clear()
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .output();
            match probe {
                Ok(out) if out.status.success() => PidNamespace::Bwrap(bwrap.clone()),
                Ok(out) => PidNamespace::Unavailable(format!(
                    "bubblewrap cannot make a pid namespace here: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(e) => PidNamespace::Unavailable(format!("cannot run bubblewrap: {e}")),
            }
        })
    }

    /// Why trusted processes get no pid namespace here, if they do not.
    pub fn trusted_weakness(&self) -> Option<&str> {
        match self.pid_namespace() {
            PidNamespace::Unavailable(why) => Some(why),
            PidNamespace::Native | PidNamespace::Bwrap(_) => None,
        }
    }

    /// Whether untrusted processes can be confined here.
    pub fn available(&self) -> Result<&Path, &str> {
        self.bwrap.as_deref().map_err(String::as_str)
    }

    /// Prepares a process of a step with `policy`.
    pub fn launch(&self, policy: &StepPolicy, spec: &Spec<'_>) -> Result<Launch, String> {
        match policy.trust {
            Trust::Trusted => self.trusted(spec),
            Trust::Untrusted => self.untrusted(policy, spec),
        }
    }

    /// A trusted process: the host as it is, but in a pid namespace of its
    /// own; where none can be made, in a pids cgroup (when the host has one)
    /// that is emptied when the process ends.
    fn trusted(&self, spec: &Spec<'_>) -> Result<Launch, String> {
        let cgroup = match self.pid_namespace() {
            PidNamespace::Unavailable(_) => PidsCgroup::create(spec.label, None),
            PidNamespace::Native | PidNamespace::Bwrap(_) => None,
        };
        let direct = |pid_namespace| Launch {
            program: spec.program.to_path_buf(),
            args: spec.args.iter().map(OsString::from).collect(),
            env: spec.env.to_vec(),
            identity: None,
            rlimits: Vec::new(),
            pid_namespace,
            staging: None,
            args_file: None,
            cgroup: None,
        };
        let mut launch = match self.pid_namespace() {
            PidNamespace::Native => direct(true),
            PidNamespace::Unavailable(_) => direct(false),
            PidNamespace::Bwrap(bwrap) => {
                let mut a = Args::default();
                a.push(&["--dev-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "--die-with-parent"]);
                a.push(&["--new-session", "--clearenv"]);
                a.program(spec);
                let (args, args_file) =
                    a.into_file(spec).map_err(|e| format!("cannot pass bubblewrap its arguments: {e}"))?;
                Launch {
                    program: bwrap.clone(),
                    args,
                    args_file: Some(args_file),
                    env: Vec::new(),
                    identity: None,
                    rlimits: Vec::new(),
                    pid_namespace: false,
                    staging: None,
                    cgroup: None,
                }
            }
        };
        launch.cgroup = cgroup;
        Ok(launch)
    }

    /// An untrusted process, confined; refused without bubblewrap.
    fn untrusted(&self, policy: &StepPolicy, spec: &Spec<'_>) -> Result<Launch, String> {
        let bwrap = self.bwrap.as_ref().map_err(Clone::clone)?;
        // The workspace was handed to this identity before (see
        // `identity::hand_over_off_runtime`): off the runtime's threads.
        let identity = Identity::for_sandbox()?;
        let tmp = policy.memory.max(16 << 20);
        let shm = (policy.memory / 4).max(1 << 20);
        let mut a = Args::default();
        a.push(&["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]);
        a.push(&["--hostname", "baton-sandbox", "--clearenv"]);
        for p in RO_PATHS {
            a.push(&["--ro-bind-try", p, p]);
        }
        // `/dev` is read-only once `/dev/shm` is mounted on it; both tmpfs
        // mounts are sized from the step's memory cap.
        a.push(&["--dev", "/dev"]);
        a.push(&["--size", &shm.to_string(), "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]);
        a.push(&["--proc", "/proc", "--size", &tmp.to_string(), "--tmpfs", "/tmp"]);
        // As root, the sandbox user may be unable to walk to these paths (a
        // checkout under a 0700 /root): they are staged (see `staging`).
        let mut staging = identity.map(|_| Staging::default());
        let mut reachable = |dir: &Path, what: &str| -> Result<PathBuf, String> {
            match &mut staging {
                None => Ok(dir.to_path_buf()),
                Some(st) => st.add(dir).map_err(|e| format!("cannot stage {what}: {e}")),
            }
        };
        if let Some(src) = spec.src {
            let from = reachable(src, "the project directory")?;
            a.path("--ro-bind", &from, Path::new("/src"));
            // Every run state under the project (this pipeline's, and any
            // other's in a monorepo) is covered by an empty read-only
            // directory. A copy of the project without one (a worker's
            // `/src`, unpacked read-only) has nothing to cover.
            for rel in self.state_dirs.under(src).iter() {
                let at = Path::new("/src").join(rel);
                a.0.extend(["--tmpfs".into(), at.clone().into(), "--remount-ro".into(), at.into()]);
            }
        }
        let from = reachable(spec.workspace, "the workspace")?;
        a.path("--bind", &from, spec.workspace);
        a.program(spec);
        let cpu = policy.cpu.map(|d| d.as_secs().max(1)).unwrap_or(300);
        let cgroup = PidsCgroup::create(spec.label, Some(MAX_PROCESSES));
        let mut rlimits =
            vec![(libc::RLIMIT_CPU, cpu), (libc::RLIMIT_AS, policy.memory.max(64 << 20)), (libc::RLIMIT_CORE, 0)];
        if cgroup.is_none() {
            // RLIMIT_NPROC counts every process of the user, so it is the cap
            // only where no pids cgroup caps this tree alone.
            rlimits.push((libc::RLIMIT_NPROC, MAX_PROCESSES));
        }
        let (args, args_file) = a.into_file(spec).map_err(|e| format!("cannot pass bubblewrap its arguments: {e}"))?;
        Ok(Launch {
            program: bwrap.clone(),
            args,
            args_file: Some(args_file),
            env: Vec::new(),
            identity,
            rlimits,
            pid_namespace: false,
            staging,
            cgroup,
        })
    }
}

/// A bubblewrap command line being built.
#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn push(&mut self, items: &[&str]) {
        self.0.extend(items.iter().map(OsString::from));
    }

    /// The options written NUL-separated to a memory file, and the command
    /// line that reads them from it, then runs the program.
    fn into_file(self, spec: &Spec<'_>) -> std::io::Result<(Vec<OsString>, OwnedFd)> {
        use std::io::{Seek, Write};
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        // SAFETY: memfd_create with a static name; the result is checked.
        let fd = unsafe { libc::memfd_create(c"bwrap-args".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nobody else owns.
        let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
        let mut bytes = Vec::new();
        for a in &self.0 {
            bytes.extend_from_slice(a.as_bytes());
            bytes.push(0);
        }
        file.write_all(&bytes)?;
        file.rewind()?;
        let fd = OwnedFd::from(file);
        let mut args: Vec<OsString> = vec!["--args".into(), std::os::fd::AsRawFd::as_raw_fd(&fd).to_string().into()];
        args.push("--".into());
        args.push(spec.program.into());
        args.extend(spec.args.iter().map(OsString::from));
        Ok((args, fd))
    }

    fn path(&mut self, flag: &str, from: &Path, to: &Path) {
        self.0.push(flag.into());
        self.0.push(from.into());
        self.0.push(to.into());
    }

    /// The working directory and the variables.
    fn program(&mut self, spec: &Spec<'_>) {
        self.0.push("--chdir".into());
        self.0.push(spec.cwd.into());
        self.0.extend(setenv_args(spec.env));
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

/// Whether this process may create pid and mount namespaces itself (root
/// with `CAP_SYS_ADMIN`, bit 21 of the effective set).
fn has_sys_admin() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return false;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 21) != 0)
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
