//! Compiles the in-kernel forwarding program (`bpf/forward.bpf.c`) with clang.
//!
//! Without clang (or the headers it needs) the crate still builds: the object is left
//! empty, a warning says why, and the engine reports kernel forwarding unavailable at run
//! time, so the userspace relay carries every packet.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "bpf/forward.bpf.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CLANG");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("forward.bpf.o");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_owned());
    let mut cmd = Command::new(&clang);
    cmd.args([
        "-O2", "-g", "-target", "bpf", "-Wall", "-Werror", "-c", src, "-o",
    ])
    .arg(&out);
    // Debian and Ubuntu keep <asm/types.h> under the multiarch directory, which a clang
    // targeting bpf does not search by itself.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let multiarch = PathBuf::from(format!("/usr/include/{arch}-linux-gnu"));
    if multiarch.is_dir() {
        cmd.arg("-I").arg(multiarch);
    }
    let failure = match cmd.output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "{clang} failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        )),
        Err(e) => Some(format!(
            "{clang} not found ({e}); install clang and libbpf-dev"
        )),
    };
    if let Some(why) = failure {
        println!(
            "cargo:warning=in-kernel RTP forwarding not built, the userspace relay will carry all media: {why}"
        );
        if let Err(e) = std::fs::write(&out, []) {
            println!("cargo:warning=cannot write {}: {e}", out.display());
        }
    }
}
