//! Writes the seed corpus of every fuzz target under `fuzz/corpus/<target>/`
//! (run once before the first `cargo fuzz run`, see fuzz/README.md).

use std::fs;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (i, (target, bytes)) in skynet_fuzz::seeds().into_iter().enumerate() {
        let dir = root.join(&target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(format!("seed-{i}")), bytes)?;
    }
    println!("seeds written under {}", root.display());
    Ok(())
}
