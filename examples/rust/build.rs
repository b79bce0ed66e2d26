//! build.rs - links libgru statically (libgru.a), found in this order:
//!   1. the directory in the environment variable GRU_LIB_DIR;
//!   2. `pkg-config --variable=libdir gru` (an installed libgru, `make -C c install`);
//!   3. ../../c/build, the library built in this repository (`make -C c`).
//! libgru needs libm and pthreads, linked after it.
use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GRU_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let from_pkg_config = || {
        let out = Command::new("pkg-config").args(["--variable=libdir", "gru"]).output().ok()?;
        let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
    };
    let dir = env::var_os("GRU_LIB_DIR")
        .map(PathBuf::from)
        .or_else(from_pkg_config)
        .unwrap_or_else(|| manifest.join("../../c/build"));
    if !dir.join("libgru.a").exists() {
        panic!("libgru.a not found in {} (set GRU_LIB_DIR, install libgru, or run `make -C c` \
                in the repository)", dir.display());
    }
    println!("cargo:rerun-if-changed={}", dir.join("libgru.a").display());
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static=gru");
    println!("cargo:rustc-link-lib=m");
    println!("cargo:rustc-link-lib=pthread");
}
