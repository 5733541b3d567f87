//! What the bench binaries (and the tests that compile them as modules) share: finding the agent
//! processes a `migboard` started.

/// Whether process `pid` is gone (no longer listed, or a zombie waiting for its parent).
pub fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |s| s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')))
}

/// The live agent processes `server` started (its children running `migboard-agent`), by
/// `/proc/<pid>/stat`'s parent pid (read after the last `)`: the command name may hold spaces).
pub fn agents_of(server: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1).map(str::to_owned));
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid.as_deref() == Some(&server.to_string())
                && String::from_utf8_lossy(&cmd).contains("migboard-agent")
                && !gone(*pid)
        })
        .collect()
}
