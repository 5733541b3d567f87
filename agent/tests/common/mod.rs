//! Shared by the agent's process-level tests.

use std::ffi::OsStr;
use std::process::Command;

/// Runs `migboard-agent` with `args` and extra environment; returns (exit code, stdout, stderr).
/// `MIGBOARD_AGENT_SIMULATE` from the caller's environment is removed so it cannot change the test.
pub fn run_agent<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_migboard-agent"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("MIGBOARD_AGENT_SIMULATE")
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
