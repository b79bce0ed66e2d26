//! agree.rs - a model saved by Python runs the same in Rust. The data folder (the
//! environment variable GRU_TEST_DIR, else tests/data, written by make_test_data.py)
//! holds model.safetensors, input.f32 ((T, B, I) float32), expected.f32 (what pygru
//! computed, (T, B, H)) and dims.txt ("T B"). Checks the whole-sequence forward and the
//! frame-by-frame stream against Python's values, the stream bitwise against the forward
//! (libgru's guarantee), a reset, and the errors of bad input. With GRU_RUST_OUT set,
//! writes the streamed output there (for the cross-language check in tests/test_examples.py).
use std::env;
use std::fs;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    env::var_os("GRU_TEST_DIR").map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data"))
}

fn read_f32(path: PathBuf) -> Vec<f32> {
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {}", path.display(), e));
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn max_rel_err(got: &[f32], want: &[f32]) -> f64 {
    let scale = want.iter().fold(0.0f64, |m, &v| m.max((v as f64).abs())).max(1e-30);
    got.iter().zip(want).fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs())) / scale
}

#[test]
fn python_model_runs_the_same_in_rust() {
    let dir = data_dir();
    let dims = fs::read_to_string(dir.join("dims.txt")).expect("dims.txt");
    let d: Vec<usize> = dims.split_whitespace().map(|v| v.parse().unwrap()).collect();
    let (t, b) = (d[0], d[1]);
    let mut model = gru::Model::load(dir.join("model.safetensors")).expect("load");
    let (i, h) = (model.input_size(), model.hidden_size());
    let x = read_f32(dir.join("input.f32"));
    let want = read_f32(dir.join("expected.f32"));
    assert_eq!(x.len(), t * b * i);
    assert_eq!(want.len(), t * b * h);

    let whole = model.forward(&x, t, b).expect("forward");
    let err = max_rel_err(&whole, &want);
    println!("libgru {} ({}): forward vs Python, max rel err {:.3e}", gru::version(), model.isa(), err);
    assert!(err <= 1e-5, "forward differs from Python: {:e}", err);

    let mut stream = model.stream(b).expect("stream");
    let mut streamed = vec![0.0f32; t * b * h];
    for s in 0..t {
        stream.step(&x[s * b * i..(s + 1) * b * i], &mut streamed[s * b * h..(s + 1) * b * h])
            .expect("step");
    }
    assert!(streamed == whole, "frame by frame is not bitwise the whole-sequence forward");
    if let Some(out) = env::var_os("GRU_RUST_OUT") {
        let bytes: Vec<u8> = streamed.iter().flat_map(|v| v.to_le_bytes()).collect();
        fs::write(out, bytes).expect("writing GRU_RUST_OUT");
    }

    // a reset stream starts again from zeros: its next output is that of frame 0 alone
    stream.reset(0).expect("reset");
    assert!(stream.state().chunks(h).step_by(b).all(|row| row.iter().all(|&v| v == 0.0)));
    let mut y = vec![0.0f32; b * h];
    stream.step(&x[..b * i], &mut y).expect("step after reset");
    assert!(y[..h] == whole[..h]);
}

#[test]
fn errors_are_results() {
    let dir = data_dir();
    let err = gru::Model::load(dir.join("no-such-file.safetensors")).err().expect("an error");
    assert_eq!(err.status, 12, "{}", err); // GRU_ERR_IO
    assert!(err.message.contains("cannot open"), "{}", err);
    let bad = env::temp_dir().join(format!("gru-rust-bad-{}.safetensors", std::process::id()));
    fs::write(&bad, b"\x03\0\0\0\0\0\0\0{x}").unwrap();
    let err = gru::Model::load(&bad).err().expect("an error");
    fs::remove_file(&bad).ok();
    assert_eq!(err.status, 13, "{}", err); // GRU_ERR_FORMAT
    assert!(err.message.contains("not valid JSON"), "{}", err);

    let mut model = gru::Model::load(dir.join("model.safetensors")).unwrap();
    let e = model.forward(&[0.0; 3], 1, 1).err().expect("wrong length");
    assert!(e.message.contains("needs"), "{}", e);
    let mut s = model.stream(2).unwrap();
    let mut out = vec![0.0; 1];
    assert!(s.step(&[0.0; 1], &mut out).is_err());
    assert!(s.reset(5).is_err());
    assert!(model.stream(0).is_err());
}
