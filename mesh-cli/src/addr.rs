//! `HOST:PORT` arguments.

/// Parses `HOST:PORT` (`[v6]:PORT` for IPv6).
pub fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s}: expected HOST:PORT"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{s}: empty host"));
    }
    let port = port.parse().map_err(|e| format!("{s}: bad port: {e}"))?;
    Ok((host.to_string(), port))
}

/// `HOST:PORT` text (`[v6]:PORT` for an IPv6 host).
pub fn host_port_text(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
