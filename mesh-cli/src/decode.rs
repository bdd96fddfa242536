//! `mesh decode`: one frame in (hex or raw), one JSON object out.

use crate::out::errln;
use std::io::{Read, Write};
use std::process::ExitCode;

use bytes::Bytes;
use mesh_proto::wire::{Compression, Limits, decode_frame, json::decoded_to_json};

/// Arguments of `mesh decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// The frame as hex (4-byte length header included). Read from stdin when absent.
    hex: Option<String>,
    /// Read the frame from stdin as raw bytes instead of hex.
    #[arg(long, conflicts_with = "hex")]
    raw: bool,
}

/// Runs the subcommand: prints the JSON line, or a one-line error and exits 1.
pub fn run(args: &DecodeArgs) -> ExitCode {
    match decode(args) {
        Ok(line) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            errln!("mesh decode: {e}");
            ExitCode::FAILURE
        }
    }
}

fn decode(args: &DecodeArgs) -> Result<String, String> {
    let bytes = if args.raw {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| format!("reading stdin: {e}"))?;
        buf
    } else {
        let text = match &args.hex {
            Some(h) => h.clone(),
            None => {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| format!("reading stdin: {e}"))?;
                s
            }
        };
        let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        hex::decode(&clean).map_err(|e| format!("invalid hex: {e}"))?
    };
    // Every compression we have is "advertised": a frame of any method decodes.
    let decoded = decode_frame(
        Bytes::from(bytes),
        Compression::supported(),
        &Limits::default(),
    )
    .map_err(|e| e.to_string())?;
    Ok(decoded_to_json(&decoded).to_string())
}
