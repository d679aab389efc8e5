//! The build of one derivation: locks, build directory, environment, sandbox, running the
//! builder under the log limits, and handing the outputs to registration.

use super::env::{build_env, write_files, EnvParams};
use super::log::BuildLog;
use super::outputs::{register_outputs, Round};
use super::sandbox::{cpath, cstring, spawn, Mount, Sandbox, Spawn};
use super::{eprint_line, users, Builder, Failure, IoError, Node, ProcessEnd, SandboxMode};
use ferrix_store::lock::PathLock;
use ferrix_store::nar;
use ferrix_store::path::StorePath;
use ferrix_store::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Removes a directory tree when dropped, unless kept.
struct AutoDelete(Option<PathBuf>);

impl AutoDelete {
    fn keep(&mut self) -> Option<PathBuf> {
        self.0.take()
    }
}

impl Drop for AutoDelete {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            make_writable(&p);
            let _ = nar::remove_tree(&p);
        }
    }
}

/// Outputs are read-only once canonicalised; the tree must be writable to delete it.
fn make_writable(p: &Path) {
    if let Ok(m) = fs::symlink_metadata(p) {
        if m.is_dir() {
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o755));
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    make_writable(&e.path());
                }
            }
        }
    }
}

/// A fresh build directory `<parent>/nix-build-<name>-<n>`.
fn create_build_dir(parent: &Path, name: &str) -> Result<PathBuf, Failure> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = parent.join(format!("nix-build-{name}-{n}"));
        match fs::create_dir(&p) {
            Ok(()) => {
                let _ = fs::set_permissions(&p, fs::Permissions::from_mode(0o700));
                return Ok(p);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(IoError::new("creating directory", p, e).into()),
        }
    }
}

/// The failure of I/O operation `what` on `p`.
fn io_fail(e: std::io::Error, what: &'static str, p: &Path) -> Failure {
    IoError::new(what, p, e).into()
}

/// Creates the mount point `target` for `source` (a directory or an empty file).
fn mount_point(source: &Path, target: &Path) -> Result<(), Failure> {
    let is_dir = fs::metadata(source)
        .map_err(|e| io_fail(e, "getting status of", source))?
        .is_dir();
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|e| io_fail(e, "creating directory", parent))?;
    }
    let r = if is_dir {
        fs::create_dir_all(target)
    } else {
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(target)
            .map(|_| ())
    };
    r.map_err(|e| io_fail(e, "creating mount point", target))
}

impl Builder<'_> {
    /// The `drv!out,dev` name Nix gives a build in its limit messages.
    fn goal_name(&self, node: &Node) -> String {
        let outs: Vec<&str> = node.wanted.iter().map(String::as_str).collect();
        format!("{}!{}", self.print(&node.path), outs.join(","))
    }

    /// Builds one derivation whose inputs are all valid, then runs `post-build-hook` if it
    /// built anything.
    ///
    /// `locks` are the outputs' locks, taken by the scheduler; they are held until the
    /// build and its registration are over.
    pub(crate) fn build_one(
        &self,
        node: &Node,
        cancel: &AtomicBool,
        locks: Vec<PathLock>,
    ) -> Result<(), Failure> {
        let mut locks = Some(locks);
        if node.retry_subst {
            // The store takes the outputs' locks itself when it adds them.
            locks = None;
            if self.retry_substitution(node)? {
                super::emit(super::Output::BuildStop(&node.path));
                return Ok(());
            }
        }
        let _locks = match locks {
            Some(l) => l,
            None => match try_lock_outputs(self.store, node)? {
                Some(l) => l,
                None => {
                    return Err(Failure::OutputsLocked {
                        drv: self.print(&node.path),
                    })
                }
            },
        };
        let mut was_valid = true;
        for out in node.outputs.values() {
            was_valid &= self.output_ok(out)?;
        }
        // `repeat`: build this many more times and compare (not fixed outputs, not checks).
        let total = if node.check || node.drv.is_fixed_output() {
            1
        } else {
            self.settings.repeat.saturating_add(1)
        };
        let mut round = Round {
            index: 1,
            total,
            previous: None,
            enforce: self.settings.enforce_determinism,
        };
        while round.index <= round.total {
            let r = self.build_one_inner(node, cancel, &mut round);
            super::emit(super::Output::BuildStop(&node.path));
            r?;
            round.index += 1;
        }
        if !node.check && !self.settings.secret_key_files.is_empty() {
            self.sign_outputs(node)?;
        }
        if !was_valid && !node.check && !self.settings.post_build_hook.is_empty() {
            self.run_post_build_hook(node)?;
        }
        Ok(())
    }

    /// Tries the wanted outputs of `node` from the caches again, now that its inputs are
    /// there; whether they are valid now.
    fn retry_substitution(&self, node: &Node) -> Result<bool, Failure> {
        let Some(s) = &self.subst else {
            return Ok(false);
        };
        let mut invalid = BTreeSet::new();
        for w in &node.wanted {
            if let Some(p) = node.outputs.get(w) {
                if !self.output_ok(p)? {
                    invalid.insert(p.clone());
                }
            }
        }
        let mut plan = BTreeMap::new();
        if !s.plan(self.store, &invalid, self.settings.repair, true, &mut plan)? {
            return Ok(false);
        }
        Ok(s.run(self.store, &plan, self.settings.repair, 1).is_empty())
    }

    /// Signs the outputs of `node` with the keys of `secret-key-files`, as Nix signs what
    /// it builds.
    /// Keeps where the floating outputs of `node` went, and with `ca-derivations` records
    /// the realisations of all its outputs in the store, as Nix does.
    fn note_realised(
        &self,
        node: &Node,
        finals: BTreeMap<String, StorePath>,
    ) -> Result<(), Failure> {
        {
            let mut r = self.realised.lock().unwrap_or_else(|e| e.into_inner());
            for (name, path) in finals {
                r.insert((node.path.clone(), name), path);
            }
        }
        if !self.ca_derivations() || node.check {
            return Ok(());
        }
        let Some(hash) = self.masked_hash(&node.drv) else {
            return Ok(());
        };
        for (name, path) in self.final_outputs(node) {
            if !self.store.is_valid(&path)? {
                continue;
            }
            let id = ferrix_store::realisation::DrvOutput {
                drv_hash: hash.clone(),
                output: name,
            };
            self.store
                .register_drv_output(&ferrix_store::realisation::Realisation::new(id, path))?;
        }
        Ok(())
    }

    /// The paths of `node`'s outputs once built: floating outputs where they went.
    pub(crate) fn final_outputs(&self, node: &Node) -> BTreeMap<String, StorePath> {
        let r = self.realised.lock().unwrap_or_else(|e| e.into_inner());
        node.outputs
            .iter()
            .map(|(name, p)| {
                let p = r.get(&(node.path.clone(), name.clone())).unwrap_or(p);
                (name.clone(), p.clone())
            })
            .collect()
    }

    pub(crate) fn sign_outputs(&self, node: &Node) -> Result<(), Failure> {
        let keys = ferrix_store::sigs::read_secret_keys(&self.settings.secret_key_files)?;
        for out in self.final_outputs(node).values() {
            let Some(info) = self.store.path_info(out)? else {
                continue;
            };
            let sigs: Vec<String> = keys
                .iter()
                .map(|k| k.sign_info(self.store.dir(), &info))
                .filter(|s| !info.sigs.contains(s))
                .collect();
            if !sigs.is_empty() {
                self.store.add_signatures(out, &sigs)?;
            }
        }
        Ok(())
    }

    /// Runs `post-build-hook` with `DRV_PATH`, `OUT_PATHS` and the settings in
    /// `NIX_CONFIG`; its output goes to standard error. A failing hook fails the build.
    pub(crate) fn run_post_build_hook(&self, node: &Node) -> Result<(), Failure> {
        let hook = &self.settings.post_build_hook;
        eprint_line(&format!("running post-build-hook '{hook}'..."));
        let outs: BTreeSet<String> = self
            .final_outputs(node)
            .values()
            .map(|o| self.print(o))
            .collect();
        let out = std::process::Command::new(hook)
            .env("DRV_PATH", self.print(&node.path))
            .env("OUT_PATHS", outs.into_iter().collect::<Vec<_>>().join(" "))
            .env("NIX_CONFIG", &self.settings.nix_config)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|source| Failure::HookNotRun {
                program: hook.clone(),
                source,
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            eprint_line(line);
        }
        if !out.status.success() {
            return Err(Failure::HookFailed {
                program: hook.clone(),
                end: ProcessEnd::of(out.status),
            });
        }
        Ok(())
    }

    /// The input closure of `node`: its sources and the needed outputs of its input
    /// derivations, with everything they refer to.
    pub(crate) fn input_closure(&self, node: &Node) -> Result<BTreeSet<StorePath>, Failure> {
        let store = self.store;
        let mut inputs = BTreeSet::new();
        for src in &node.drv.input_srcs {
            inputs.insert(store.dir().parse(&String::from_utf8_lossy(src))?);
        }
        for (d, outs) in &node.drv.input_drvs {
            let dp = store.dir().parse(&String::from_utf8_lossy(d))?;
            let o = self.drv_store().derivation_output_paths(&dp)?;
            for name in outs {
                let name = String::from_utf8_lossy(name);
                match o.get(name.as_ref()) {
                    Some(p) => {
                        inputs.insert(p.clone());
                    }
                    None => {
                        return Err(Failure::NoSuchInputOutput {
                            drv: self.print(&dp),
                            output: name.into_owned(),
                        })
                    }
                }
            }
        }
        Ok(store.closure(&inputs, false, false)?)
    }

    fn build_one_inner(
        &self,
        node: &Node,
        cancel: &AtomicBool,
        round: &mut Round,
    ) -> Result<(), Failure> {
        let store = self.store;
        let drv_name = self.print(&node.path);
        // The caller holds the outputs' locks, so no other process builds them meanwhile.
        for out in node.outputs.values() {
            store.add_temp_root(out)?;
        }
        let mut all_valid = true;
        for out in node.outputs.values() {
            all_valid &= self.output_ok(out)?;
        }
        if all_valid && !node.check {
            return Ok(());
        }
        let builtin = node.drv.builder.starts_with(b"builtin:");
        let platform = String::from_utf8_lossy(&node.drv.platform).into_owned();
        let required = required_system_features(&node.drv);
        let mut offered: Vec<&str> = self
            .settings
            .system_features
            .iter()
            .map(String::as_str)
            .collect();
        offered.sort_unstable();
        offered.dedup();
        let platform_ok = (builtin && platform == "builtin")
            || platform == self.settings.system
            || self.settings.extra_platforms.contains(&platform);
        let features_ok = required.iter().all(|f| offered.contains(&f.as_str()));
        if !platform_ok || !features_ok {
            return Err(Failure::WrongPlatform {
                platform,
                required: required.into_iter().collect(),
                drv: drv_name,
                system: self.settings.system.clone(),
                offered: offered.into_iter().map(str::to_owned).collect(),
            });
        }
        let recursive = required.contains("recursive-nix");
        if recursive
            && !self
                .settings
                .experimental_features
                .iter()
                .any(|f| f == "recursive-nix")
        {
            return Err(Failure::RecursiveNixDisabled);
        }
        let text = if node.check {
            format!("checking outputs of '{drv_name}'")
        } else if round.total > 1 {
            format!(
                "building '{drv_name}' (round {}/{})",
                round.index, round.total
            )
        } else {
            format!("building '{drv_name}'")
        };
        super::emit(super::Output::BuildStart {
            drv: &node.path,
            text: &text,
            round: round.index,
            rounds: round.total,
        });

        let closure = self.input_closure(node)?;

        if builtin {
            return self.build_builtin(node, &closure);
        }

        let no_chroot = node
            .drv
            .env
            .get(&b"__noChroot"[..])
            .is_some_and(|v| v == b"1");
        let mut use_chroot = match self.settings.sandbox {
            SandboxMode::Off => false,
            SandboxMode::Relaxed => !no_chroot,
            SandboxMode::On => {
                if no_chroot {
                    return Err(Failure::NoChrootNotAllowed { drv: drv_name });
                }
                true
            }
        };
        // A chroot store's builds always run in the sandbox, as in Nix: only there does the
        // store appear at its logical path, and only there can the builder not write into
        // the host's store of that name.
        if store.config().real_dir != Path::new(store.config().store_dir.as_str()) {
            use_chroot = true;
        }
        let root = nix::unistd::geteuid().is_root();
        let build_user = if root && !self.settings.build_users_group.is_empty() {
            Some(users::acquire(
                &self.settings.build_users_group,
                &users::pool_dir(),
            )?)
        } else {
            None
        };
        if let Some(u) = &build_user {
            // As Nix keeps it: owned by root and the build group, group-writable and
            // sticky, so that build users create their outputs but remove nobody else's.
            ensure_store_dir_mode(&store.config().real_dir, u.gid)?;
        }
        let drv_base = node.path.name().to_string();
        let tmp_dir = create_build_dir(&self.settings.build_dir_parent, &drv_base)?;
        let mut tmp_guard = AutoDelete(Some(tmp_dir.clone()));
        let chown = |p: &Path| -> Result<(), Failure> {
            if let Some(u) = &build_user {
                nix::unistd::chown(
                    p,
                    Some(nix::unistd::Uid::from_raw(u.uid)),
                    Some(nix::unistd::Gid::from_raw(u.gid)),
                )
                .map_err(|e| IoError::errno("changing owner of", p, e))?;
            }
            Ok(())
        };
        chown(&tmp_dir)?;
        let build_dir_inside = if use_chroot {
            self.settings.sandbox_build_dir.clone()
        } else {
            tmp_dir.display().to_string()
        };
        let env = build_env(
            &node.drv,
            &EnvParams {
                store_dir: store.dir().as_str(),
                cores: self.settings.cores,
                build_dir: &build_dir_inside,
                output_paths: &node.outputs,
                store,
                inputs: &closure,
            },
        )
        .map_err(Failure::Env)?;
        let mut env = env;
        if recursive {
            env.vars.insert(
                b"NIX_REMOTE".to_vec(),
                format!(
                    "unix://{}/{}",
                    build_dir_inside.trim_end_matches('/'),
                    super::recursive::SOCKET_NAME
                )
                .into_bytes(),
            );
        }

        // Where the outputs appear while building, and the valid outputs built at a
        // scratch path instead (output name → scratch path).
        let mut locations = BTreeMap::new();
        let mut redirected: BTreeMap<String, StorePath> = BTreeMap::new();
        let mut chroot_guard = AutoDelete(None);
        let sandbox = if use_chroot {
            let chroot = PathBuf::from(format!("{}.chroot", store.real_path(&node.path).display()));
            if fs::symlink_metadata(&chroot).is_ok() {
                make_writable(&chroot);
                nar::remove_tree(&chroot).map_err(|e| io_fail(e, "deleting", &chroot))?;
            }
            fs::create_dir(&chroot).map_err(|e| io_fail(e, "creating directory", &chroot))?;
            chroot_guard.0 = Some(chroot.clone());
            let sb = self.prepare_chroot(
                node,
                &chroot,
                &closure,
                &tmp_dir,
                build_user.as_ref().map(|u| (u.uid, u.gid)),
                recursive,
            )?;
            for (name, out) in &node.outputs {
                locations.insert(
                    name.clone(),
                    chroot
                        .join(store.dir().as_str().trim_start_matches('/'))
                        .join(out.base_name()),
                );
            }
            Some(sb)
        } else {
            for (name, out) in &node.outputs {
                let real = store.real_path(out);
                if store.is_valid(out)? {
                    // A valid output may be in use and cannot be replaced while the build
                    // runs: the builder writes a scratch path instead, whose hash is
                    // rewritten back to the output's afterwards (as Nix does).
                    let scratch = fallback_path(store, &node.path, out)?;
                    let sreal = store.real_path(&scratch);
                    if fs::symlink_metadata(&sreal).is_ok() {
                        make_writable(&sreal);
                        nar::remove_tree(&sreal).map_err(|e| io_fail(e, "deleting", &sreal))?;
                    }
                    locations.insert(name.clone(), sreal);
                    redirected.insert(name.clone(), scratch);
                } else {
                    // An invalid leftover from an interrupted build.
                    if fs::symlink_metadata(&real).is_ok() {
                        make_writable(&real);
                        nar::remove_tree(&real).map_err(|e| io_fail(e, "deleting", &real))?;
                    }
                    locations.insert(name.clone(), real);
                }
            }
            None
        };

        // `placeholder "out"` becomes the path the output is built at, and the hashes of
        // redirected outputs become their scratch paths' hashes.
        let mut rewrites: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (name, out) in &node.outputs {
            let at = redirected.get(name).unwrap_or(out);
            rewrites.push((
                ferrix_placeholder(name).into_bytes(),
                store.print(at).into_bytes(),
            ));
        }
        for (name, scratch) in &redirected {
            rewrites.push((
                node.outputs[name].hash_part().as_bytes().to_vec(),
                scratch.hash_part().as_bytes().to_vec(),
            ));
        }
        env.vars = std::mem::take(&mut env.vars)
            .into_iter()
            .map(|(k, v)| (rewrite_bytes(&k, &rewrites), rewrite_bytes(&v, &rewrites)))
            .collect();
        for (_, contents) in env.files.iter_mut() {
            *contents = rewrite_bytes(contents, &rewrites);
        }
        env.files.extend(
            super::env::export_references_graph(&node.drv, store, &closure)
                .map_err(Failure::ReferencesGraph)?,
        );
        for f in write_files(&env, &tmp_dir)? {
            chown(&f)?;
        }

        let mut envp = Vec::new();
        for (k, v) in &env.vars {
            let mut kv = k.clone();
            kv.push(b'=');
            kv.extend_from_slice(v);
            envp.push(cstring(&kv)?);
        }
        let mut argv = vec![cstring(&node.drv.builder)?];
        for a in &node.drv.args {
            argv.push(cstring(&rewrite_bytes(a, &rewrites))?);
        }
        let user = build_user.as_ref().map(|u| (u.uid, u.gid));
        let spawn_spec = Spawn {
            program: cstring(&node.drv.builder)?,
            argv,
            envp,
            cwd: cstring(build_dir_inside.as_bytes())?,
            sandbox,
            user,
        };

        let mut log = BuildLog::open(
            &store.config().log_dir,
            &node.path,
            self.settings.keep_log,
            self.settings.print_build_output,
            self.settings.log_lines,
        )
        .map_err(Failure::OpenLog)?;
        let (log_r, log_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(Failure::Pipe)?;
        let mut daemon = None;
        if recursive {
            // The sandbox's store directory, as the host sees it.
            let chroot_store = spawn_spec.sandbox.as_ref().and_then(|sb| {
                let dir = sb.shared_store.as_ref()?;
                let dir = PathBuf::from(std::ffi::OsStr::from_bytes(dir.as_bytes()));
                Some((dir, sb.user_ns.is_some()))
            });
            let state = std::sync::Arc::new(super::recursive::Recursive::new(
                store.dir().clone(),
                store.config().real_dir.clone(),
                closure.clone(),
                chroot_store,
            ));
            let started = self.start_recursive(&tmp_dir, build_user.as_ref(), state.clone());
            match started {
                Ok(stop) => daemon = Some((state, stop)),
                Err(f) => {
                    log.finish();
                    return Err(f);
                }
            }
        }
        let child = spawn(&spawn_spec, &log_w).map_err(Failure::Spawn);
        drop(log_w);
        let child = match child {
            Ok(c) => c,
            Err(f) => {
                if let Some((state, stop)) = daemon {
                    state.set_ended();
                    stop.stop();
                }
                log.finish();
                return Err(f);
            }
        };
        if let Some((state, _)) = &daemon {
            state.set_started(child.pid);
        }

        // Copy the log until the builder closes it, enforcing the limits.
        let start = Instant::now();
        let mut last_output = Instant::now();
        let mut ended: Option<Failure> = None;
        let mut buf = vec![0u8; 65536];
        loop {
            // `min-free`: a cheap check, at most once per `min-free-check-interval`.
            self.store.auto_gc(false);
            if cancel.load(Ordering::Relaxed) || super::interrupted() {
                child.kill();
                ended = Some(Failure::Cancelled {
                    drv: drv_name.clone(),
                });
                break;
            }
            let mut wait = Duration::from_millis(200);
            if self.settings.max_silent_time > 0 {
                let left = Duration::from_secs(self.settings.max_silent_time)
                    .saturating_sub(last_output.elapsed());
                if left.is_zero() {
                    child.kill();
                    ended = Some(Failure::SilenceTimeout {
                        goal: self.goal_name(node),
                        seconds: self.settings.max_silent_time,
                    });
                    break;
                }
                wait = wait.min(left);
            }
            if self.settings.timeout > 0 {
                let left =
                    Duration::from_secs(self.settings.timeout).saturating_sub(start.elapsed());
                if left.is_zero() {
                    child.kill();
                    ended = Some(Failure::Timeout {
                        goal: self.goal_name(node),
                        seconds: self.settings.timeout,
                    });
                    break;
                }
                wait = wait.min(left);
            }
            let mut fds = [nix::poll::PollFd::new(
                log_r.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let ms = wait.as_millis().clamp(1, 60_000) as u16;
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    child.kill();
                    ended = Some(Failure::ReadLog(e));
                    break;
                }
            }
            match nix::unistd::read(&log_r, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    last_output = Instant::now();
                    // A chunk that goes over the limit is not shown.
                    if self.settings.max_log_size > 0
                        && log.size + n as u64 > self.settings.max_log_size
                    {
                        child.kill();
                        ended = Some(Failure::LogLimit {
                            goal: self.goal_name(node),
                            bytes: self.settings.max_log_size,
                        });
                        break;
                    }
                    log.write(&buf[..n]);
                }
                Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => continue,
                Err(_) => break,
            }
        }
        // The end of the log means the end of the build, as in Nix: a builder that closed
        // its output but runs on (and anything it left behind) is killed. Programs close
        // their output just before they exit, so the builder first gets a moment to end on
        // its own (killing it at once would sometimes turn a clean exit into signal 9).
        let mut status = None;
        if ended.is_none() {
            let grace = Instant::now();
            while grace.elapsed() < Duration::from_millis(500) {
                if let Some(st) = child.try_wait() {
                    status = Some(st);
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let status = match status {
            Some(st) => {
                // What the builder left running in its process group goes too.
                child.kill_group();
                st
            }
            None => {
                child.kill();
                child.wait()
            }
        };
        log.finish();
        drop(log_r);
        // The recursive daemon stops with the builder; what its calls added may be
        // referred to by the outputs.
        let mut closure = closure;
        if let Some((state, stop)) = daemon {
            state.set_ended();
            stop.stop();
            closure.extend(state.added());
        }

        let failure = match (ended, status) {
            (Some(f), _) => Some(f),
            (None, Ok(0)) => None,
            (None, st) => {
                let end = match st {
                    Ok(code) => ProcessEnd::Exit(code),
                    Err(sig) => ProcessEnd::Signal(sig),
                };
                let log_tail = if !log.printing() || self.settings.log_tail_in_errors {
                    log.tail()
                } else {
                    Vec::new()
                };
                Some(Failure::BuilderFailed {
                    drv: drv_name,
                    end,
                    log_tail,
                })
            }
        };
        let result = match failure {
            Some(f) => Err(f),
            None => {
                let mut finals = BTreeMap::new();
                let r = register_outputs(
                    store,
                    node,
                    &locations,
                    &redirected,
                    &closure,
                    node.check,
                    self.settings.keep_failed,
                    round,
                    self.settings.repair,
                    &mut finals,
                )
                .map(|_| ());
                match r {
                    Ok(()) => self.note_realised(node, finals),
                    Err(e) => Err(e),
                }
            }
        };
        if !use_chroot {
            // Scratch paths never outlive the build, and after a failure nothing
            // half-built stays behind under the final names.
            for (name, p) in &locations {
                let out = &node.outputs[name];
                let leftover = redirected.contains_key(name)
                    || (result.is_err() && !store.is_valid(out).unwrap_or(true));
                if leftover && fs::symlink_metadata(p).is_ok() {
                    make_writable(p);
                    let _ = nar::remove_tree(p);
                }
            }
        }
        if result.is_err() && self.settings.keep_failed && !cancel.load(Ordering::Relaxed) {
            if let Some(p) = tmp_guard.keep() {
                eprint_line(&format!("note: keeping build directory '{}'", p.display()));
            }
        }
        drop(chroot_guard);
        drop(tmp_guard);
        result
    }

    /// Creates the recursive Nix socket in the build directory `tmp_dir` (for the builder
    /// only) and starts serving it.
    fn start_recursive(
        &self,
        tmp_dir: &Path,
        build_user: Option<&users::BuildUser>,
        state: std::sync::Arc<super::recursive::Recursive>,
    ) -> Result<Box<dyn super::recursive::Stop>, Failure> {
        let path = tmp_dir.join(super::recursive::SOCKET_NAME);
        let listener = std::os::unix::net::UnixListener::bind(&path)
            .map_err(|e| io_fail(e, "binding socket", &path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .map_err(|e| io_fail(e, "changing mode of", &path))?;
        if let Some(u) = build_user {
            std::os::unix::fs::chown(&path, Some(u.uid), Some(u.gid))
                .map_err(|e| io_fail(e, "changing owner of", &path))?;
        }
        Ok(super::recursive::start(
            listener,
            state,
            self.store.config(),
        )?)
    }

    /// Lays out the chroot directory and lists its mounts.
    fn prepare_chroot(
        &self,
        node: &Node,
        chroot: &Path,
        closure: &BTreeSet<StorePath>,
        tmp_dir: &Path,
        build_user: Option<(u32, u32)>,
        recursive: bool,
    ) -> Result<Sandbox, Failure> {
        let store = self.store;
        let (uid, gid) = build_user.unwrap_or((1000, 100));
        let chown_root_group = |p: &Path| -> Result<(), Failure> {
            if build_user.is_some() {
                nix::unistd::chown(
                    p,
                    Some(nix::unistd::Uid::from_raw(0)),
                    Some(nix::unistd::Gid::from_raw(gid)),
                )
                .map_err(|e| IoError::errno("changing owner of", p, e))?;
            }
            Ok(())
        };
        fs::set_permissions(chroot, fs::Permissions::from_mode(0o750))
            .map_err(|e| io_fail(e, "changing mode of", chroot))?;
        chown_root_group(chroot)?;
        let mk = |rel: &str| -> Result<PathBuf, Failure> {
            let p = chroot.join(rel);
            fs::create_dir_all(&p).map_err(|e| io_fail(e, "creating directory", &p))?;
            Ok(p)
        };
        let t = mk("tmp")?;
        fs::set_permissions(&t, fs::Permissions::from_mode(0o1777))
            .map_err(|e| io_fail(e, "changing mode of", &t))?;
        let etc = mk("etc")?;
        let write = |p: PathBuf, s: String| -> Result<(), Failure> {
            fs::write(&p, s).map_err(|e| io_fail(e, "writing file", &p))
        };
        let build_dir = &self.settings.sandbox_build_dir;
        write(
            etc.join("passwd"),
            format!(
                "root:x:0:0:Nix build user:{build_dir}:/noshell\nnixbld:x:{uid}:{gid}:Nix build user:{build_dir}:/noshell\nnobody:x:65534:65534:Nobody:/:/noshell\n"
            ),
        )?;
        write(
            etc.join("group"),
            format!("root:x:0:\nnixbld:!:{gid}:\nnogroup:x:65534:\n"),
        )?;
        let fixed = node.drv.is_fixed_output();
        if !fixed {
            write(
                etc.join("hosts"),
                "127.0.0.1 localhost\n::1 localhost\n".into(),
            )?;
        }
        let store_in = mk(store.dir().as_str().trim_start_matches('/'))?;
        fs::set_permissions(&store_in, fs::Permissions::from_mode(0o1775))
            .map_err(|e| io_fail(e, "changing mode of", &store_in))?;
        chown_root_group(&store_in)?;
        mk("proc")?;
        mk("dev/shm")?;
        mk("dev/pts")?;
        let dev = chroot.join("dev");
        for (name, target) in [
            ("ptmx", "/dev/pts/ptmx"),
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            std::os::unix::fs::symlink(target, dev.join(name))
                .map_err(|e| io_fail(e, "creating symlink", &dev.join(name)))?;
        }
        mk("real-root")?;

        // target (inside) → (source on the host, read-only)
        let mut dirs: BTreeMap<String, (PathBuf, bool)> = BTreeMap::new();
        let mut extra_store = BTreeSet::new();
        let mut add_setting = |sp: &super::SandboxPath,
                               dirs: &mut BTreeMap<String, (PathBuf, bool)>|
         -> Result<(), Failure> {
            let src = Path::new(&sp.source);
            if fs::symlink_metadata(src).is_err() {
                if sp.optional {
                    return Ok(());
                }
                return Err(Failure::SandboxPathInaccessible {
                    path: sp.source.clone(),
                });
            }
            if store.dir().is_in_store(&sp.source) {
                if let Ok((p, _)) = store.dir().split(&sp.source) {
                    extra_store.insert(p);
                }
            }
            dirs.insert(sp.target.clone(), (src.to_path_buf(), false));
            Ok(())
        };
        for sp in &self.settings.sandbox_paths {
            add_setting(sp, &mut dirs)?;
        }
        for d in [
            "/dev/full",
            "/dev/null",
            "/dev/random",
            "/dev/tty",
            "/dev/urandom",
            "/dev/zero",
            "/dev/kvm",
        ] {
            if Path::new(d).exists() {
                dirs.insert(d.to_string(), (PathBuf::from(d), false));
            }
        }
        if !self.settings.pre_build_hook.is_empty() {
            for sp in self.run_pre_build_hook(node, chroot)? {
                add_setting(&sp, &mut dirs)?;
            }
        }
        // Store paths named by sandbox-paths bring their closure along.
        let mut store_paths = closure.clone();
        if !extra_store.is_empty() {
            let valid: BTreeSet<StorePath> = extra_store
                .into_iter()
                .filter(|p| store.is_valid(p).unwrap_or(false))
                .collect();
            store_paths.extend(store.closure(&valid, false, false)?);
        }
        for out in node.outputs.values() {
            store_paths.remove(out);
        }
        for p in &store_paths {
            dirs.insert(store.print(p), (store.real_path(p), true));
        }
        dirs.insert(build_dir.clone(), (tmp_dir.to_path_buf(), false));

        let mut mounts = Vec::new();
        for (target, (source, ro)) in &dirs {
            let t = chroot.join(target.trim_start_matches('/'));
            mount_point(source, &t)?;
            mounts.push(Mount {
                source: cpath(source)?,
                target: cpath(&t)?,
                read_only: *ro,
            });
        }
        let c = |rel: &str| cpath(&chroot.join(rel));
        Ok(Sandbox {
            root: cpath(chroot)?,
            mounts,
            private_network: !fixed,
            user_ns: if build_user.is_none() {
                Some((
                    nix::unistd::getuid().as_raw(),
                    nix::unistd::getgid().as_raw(),
                ))
            } else {
                None
            },
            proc_dir: c("proc")?,
            pts_dir: c("dev/pts")?,
            ptmx: c("dev/pts/ptmx")?,
            shm_dir: c("dev/shm")?,
            shm_size: self.settings.sandbox_dev_shm_size.clone(),
            shared_store: if recursive {
                Some(cpath(&store_in)?)
            } else {
                None
            },
        })
    }

    /// Runs `pre-build-hook DRV CHROOT` and reads the sandbox paths it adds:
    /// `extra-sandbox-paths` (or `extra-chroot-dirs`), then one path per line up to an
    /// empty line.
    fn run_pre_build_hook(
        &self,
        node: &Node,
        chroot: &Path,
    ) -> Result<Vec<super::SandboxPath>, Failure> {
        let hook = &self.settings.pre_build_hook;
        let out = std::process::Command::new(hook)
            .arg(self.print(&node.path))
            .arg(chroot)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| Failure::HookNotRun {
                program: hook.clone(),
                source,
            })?;
        if !out.status.success() {
            // Nix names only an exit code here (-1 for a signal).
            return Err(Failure::HookFailed {
                program: hook.clone(),
                end: ProcessEnd::Exit(out.status.code().unwrap_or(-1)),
            });
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut paths = Vec::new();
        let mut in_list = false;
        let mut lines: Vec<&str> = text.split('\n').collect();
        // Only complete lines count.
        lines.pop();
        for line in lines {
            if !in_list {
                if line == "extra-sandbox-paths" || line == "extra-chroot-dirs" {
                    in_list = true;
                } else {
                    return Err(Failure::UnknownHookCommand {
                        line: line.to_string(),
                    });
                }
            } else if line.is_empty() {
                in_list = false;
            } else {
                paths.push(super::SandboxPath::parse(line));
            }
        }
        Ok(paths)
    }

    /// Runs a `builtin:` builder in this process.
    fn build_builtin(&self, node: &Node, closure: &BTreeSet<StorePath>) -> Result<(), Failure> {
        let store = self.store;
        let drv_name = self.print(&node.path);
        let builder = String::from_utf8_lossy(&node.drv.builder).into_owned();
        if builder != "builtin:fetchurl" && builder != "builtin:buildenv" {
            return Err(Failure::UnsupportedBuiltin {
                name: builder.trim_start_matches("builtin:").to_string(),
            });
        }
        let (name, out) = node
            .outputs
            .iter()
            .next()
            .ok_or_else(|| Failure::NoOutputs {
                drv: drv_name.clone(),
            })?;
        let tmp = PathBuf::from(format!("{}.fetch", store.real_path(out).display()));
        let mut guard = AutoDelete(Some(tmp.clone()));
        if fs::symlink_metadata(&tmp).is_ok() {
            make_writable(&tmp);
            let _ = nar::remove_tree(&tmp);
        }
        let mut log = BuildLog::open(
            &store.config().log_dir,
            &node.path,
            self.settings.keep_log,
            self.settings.print_build_output,
            self.settings.log_lines,
        )
        .map_err(Failure::OpenLog)?;
        let r = if builder == "builtin:buildenv" {
            let dir = store.dir().clone();
            let real_dir = store.config().real_dir.clone();
            let real = move |p: &Path| -> PathBuf {
                let s = p.to_string_lossy();
                match s.strip_prefix(dir.as_str()) {
                    Some(rest) if rest.starts_with('/') => {
                        real_dir.join(rest.trim_start_matches('/'))
                    }
                    _ => p.to_path_buf(),
                }
            };
            match super::buildenv::buildenv(&node.drv.env, &tmp, &real) {
                Ok(warnings) => {
                    for w in warnings {
                        log.write(format!("warning: {w}\n").as_bytes());
                    }
                    Ok(())
                }
                Err(error) => {
                    log.write(format!("error: {error}\n").as_bytes());
                    Err(Failure::BuildenvFailed {
                        drv: drv_name.clone(),
                        error,
                    })
                }
            }
        } else {
            super::fetchurl::fetchurl(&node.drv.env, &tmp).map_err(|error| {
                log.write(format!("error: {error}\n").as_bytes());
                Failure::FetchurlFailed {
                    drv: drv_name.clone(),
                    error,
                }
            })
        };
        log.finish();
        r?;
        let locations = BTreeMap::from([(name.clone(), tmp.clone())]);
        let mut finals = BTreeMap::new();
        let res = register_outputs(
            store,
            node,
            &locations,
            &BTreeMap::new(),
            closure,
            node.check,
            self.settings.keep_failed,
            &mut Round::single(),
            self.settings.repair,
            &mut finals,
        );
        let res = match res {
            Ok(c) => self.note_realised(node, finals).map(|()| c),
            Err(e) => Err(e),
        };
        guard.keep();
        if fs::symlink_metadata(&tmp).is_ok() {
            make_writable(&tmp);
            let _ = nar::remove_tree(&tmp);
        }
        res.map(|_| ())
    }
}

fn ferrix_placeholder(output: &str) -> String {
    ferrix_store::derivation::hash_placeholder(output.as_bytes())
}

/// Where a non-sandboxed build writes output `out` of `drv` when `out` is already valid:
/// a path named after the output, made from `rewrite:<drv>:<out>` and an all-zero hash, as
/// Nix names it.
fn fallback_path(
    store: &ferrix_store::local::LocalStore,
    drv: &StorePath,
    out: &StorePath,
) -> Result<StorePath, ferrix_store::path::PathError> {
    let zero = ferrix_store::hash::Hash {
        algo: ferrix_store::hash::HashAlgo::Sha256,
        bytes: vec![0; 32],
    };
    store.dir().make_path(
        &format!("rewrite:{}:{}", drv.base_name(), out.base_name()),
        &zero,
        out.name(),
    )
}

/// `data` with every occurrence of each `from` replaced by its `to`, one pair after the
/// other (as Nix's `rewriteStrings`).
pub(crate) fn rewrite_bytes(data: &[u8], rewrites: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut cur = data.to_vec();
    for (from, to) in rewrites {
        if from.is_empty() || cur.len() < from.len() {
            continue;
        }
        let finder = memchr::memmem::Finder::new(from);
        if finder.find(&cur).is_none() {
            continue;
        }
        let mut out = Vec::with_capacity(cur.len());
        let mut last = 0;
        for i in finder.find_iter(&cur) {
            if i < last {
                continue;
            }
            out.extend_from_slice(&cur[last..i]);
            out.extend_from_slice(to);
            last = i + from.len();
        }
        out.extend_from_slice(&cur[last..]);
        cur = out;
    }
    cur
}

/// The derivation's `requiredSystemFeatures` (from `__json` with structured attributes),
/// sorted and without duplicates.
pub(crate) fn required_system_features(
    drv: &ferrix_store::derivation::Derivation,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(json) = drv.env.get(&b"__json"[..]) {
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(json) {
            if let Some(serde_json::Value::Array(items)) = m.get("requiredSystemFeatures") {
                out.extend(items.iter().filter_map(|v| v.as_str().map(str::to_owned)));
            }
        }
    } else if let Some(v) = drv.env.get(&b"requiredSystemFeatures"[..]) {
        out.extend(
            String::from_utf8_lossy(v)
                .split_whitespace()
                .map(str::to_owned),
        );
    }
    // Outputs whose paths are known only once built need a machine that does that.
    if drv
        .outputs
        .values()
        .any(|o| o.path.is_empty() || (!o.hash_algo.is_empty() && o.hash.is_empty()))
    {
        out.insert("ca-derivations".to_owned());
    }
    out
}

/// Takes the locks of all of `node`'s outputs if no other process holds any of them
/// (`None` otherwise, holding none), so a scheduler can build something else meanwhile,
/// as Nix's does.
pub(crate) fn try_lock_outputs(
    store: &ferrix_store::local::LocalStore,
    node: &Node,
) -> Result<Option<Vec<PathLock>>, Failure> {
    let mut locks = Vec::new();
    for out in node.outputs.values() {
        match PathLock::try_lock(&store.real_path(out))? {
            Some(l) => locks.push(l),
            None => return Ok(None),
        }
    }
    Ok(Some(locks))
}

/// Gives the store directory Nix's owner and mode for builds by build users: `root`, the
/// build users' group, and `1775`.
fn ensure_store_dir_mode(dir: &Path, gid: u32) -> Result<(), Failure> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(dir).map_err(|e| io_fail(e, "getting attributes of path", dir))?;
    if m.uid() != 0 || m.gid() != gid || m.mode() & 0o7777 != 0o1775 {
        nix::unistd::chown(
            dir,
            Some(nix::unistd::Uid::from_raw(0)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(|errno| Failure::StoreDirOwner {
            path: dir.to_path_buf(),
            errno,
        })?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o1775))
            .map_err(|e| io_fail(e, "changing permissions on path", dir))?;
    }
    Ok(())
}
