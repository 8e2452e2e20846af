//! Embeds every file of `assets/` in the binary: a table of (path, bytes, content type), so
//! the web apps need nothing installed and no internet.

use std::path::{Path, PathBuf};

#[path = "src/content_type.rs"]
mod content_type;
use content_type::content_type;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("assets");
    let mut files = Vec::new();
    walk(&root, &mut files)?;
    files.sort();
    let mut table = String::from(
        "/// Every embedded asset: (path under assets/, bytes, content type).\npub static ASSETS: &[(&str, &[u8], &str)] = &[\n",
    );
    for file in &files {
        let relative = file.strip_prefix(&root)?.to_string_lossy().replace('\\', "/");
        table.push_str(&format!("    ({relative:?}, include_bytes!({:?}), {:?}),\n", file.display().to_string(), content_type(file)));
    }
    table.push_str("];\n");
    std::fs::write(PathBuf::from(std::env::var("OUT_DIR")?).join("assets.rs"), table)?;
    println!("cargo:rerun-if-changed={}", root.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    Ok(())
}
