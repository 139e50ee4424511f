//! A pid namespace for a trusted process tree, made natively when baton runs
//! as root (bubblewrap does the same for ordinary users, at ~13 ms a process
//! instead of ~1 ms).
//!
//! [`enter`] runs in the child between fork and exec (`pre_exec`). It
//! unshares a pid and a mount namespace and forks once more: the grandchild
//! becomes pid 1 of the new namespace, mounts its own `/proc` and goes on to
//! exec the program; the child stays outside as a small supervisor that
//! waits for it and ends the same way (exit code or signal). When the program
//! ends, the kernel kills everything left in its namespace, `setsid` or not;
//! when the supervisor dies (the step's process group is killed, or baton
//! dies), the program gets SIGKILL through its parent-death signal.
//!
//! The program cannot unmount that `/proc` (to uncover the host's, where
//! baton's own `environ` is): `CAP_SYS_ADMIN` is dropped from its bounding
//! set. A trusted step is root otherwise, but mounts nothing.
//!
//! Only async-signal-safe system calls are made: the fork is a raw `clone`
//! (no `pthread_atfork` handlers, which could wait on a lock held by a thread
//! of baton that does not exist in the child).

use std::io;

/// `CAP_SYS_ADMIN` (linux/capability.h).
const CAP_SYS_ADMIN: libc::c_ulong = 21;

/// Called in `pre_exec`. Returns `Ok` in the process that must exec the
/// program; never returns in the supervisor.
///
/// # Safety
/// Only to be called in a child between fork and exec.
pub unsafe fn enter() -> io::Result<()> {
    // SAFETY (whole function): raw syscalls on plain values, in a
    // single-threaded child that is about to exec or exit.
    unsafe {
        if libc::unshare(libc::CLONE_NEWPID | libc::CLONE_NEWNS) != 0 {
            return Err(io::Error::last_os_error());
        }
        let pid = libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_ulong, 0usize, 0usize, 0usize, 0usize);
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            return program_side();
        }
        supervise(pid as libc::pid_t)
    }
}

/// In the new namespace: die with the supervisor, private mounts, own `/proc`.
unsafe fn program_side() -> io::Result<()> {
    // SAFETY: see `enter`.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            return Err(io::Error::last_os_error());
        }
        // (`getppid` is 0 here: the supervisor is outside the namespace. If
        // it was killed before the prctl, that was by a kill of the process
        // group, which this process is in too.)
        let none = std::ptr::null();
        if libc::mount(none, c"/".as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()) != 0 {
            return Err(io::Error::last_os_error());
        }
        let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        if libc::mount(c"proc".as_ptr(), c"/proc".as_ptr(), c"proc".as_ptr(), flags, std::ptr::null()) != 0 {
            return Err(io::Error::last_os_error());
        }
        // This `/proc` hides baton (and its environment) only while it is
        // mounted: a root process with CAP_SYS_ADMIN could `umount /proc`
        // and read the host's. Out of the bounding set, the capability is
        // gone for this process and everything it execs, setuid or not; a
        // user namespace made later gets it back only over mounts it cannot
        // separate (its copy of this `/proc` is locked).
        if libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Outside: hold no descriptor (the program's pipes and the exec-status pipe
/// must close when the program's do), wait, and end as the program ended.
unsafe fn supervise(pid: libc::pid_t) -> ! {
    // SAFETY: see `enter`.
    unsafe {
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
        let mut status = 0;
        loop {
            let r = libc::waitpid(pid, &mut status, 0);
            if r == pid {
                break;
            }
            if r < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(126);
            }
        }
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
        }
        libc::_exit(if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 });
    }
}
