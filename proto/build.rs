fn main() -> Result<(), Box<dyn std::error::Error>> {
    tonic_prost_build::configure()
        .file_descriptor_set_path(
            std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("understudy_descriptor.bin"),
        )
        .compile_protos(&["proto/admin.proto", "proto/ribsync.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
