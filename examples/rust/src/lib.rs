//! gru - a safe Rust wrapper over libgru (the C library of pygru): load a model file
//! written by pygru (`gru.save`) or libgru (`gru_save`), run it over whole sequences,
//! or stream it frame by frame for real-time use.
//!
//! ```no_run
//! let model = gru::Model::load("model.safetensors")?;
//! let mut stream = model.stream(1)?;              // one stream, state starts at zero
//! let mut y = vec![0.0f32; model.hidden_size()];
//! stream.step(&[0.0; 4], &mut y)?;                // one frame in, the output out
//! # Ok::<(), gru::Error>(())
//! ```
//! Guarantees: every libgru status other than GRU_OK becomes an `Error` carrying the
//! status and libgru's message; models are freed on drop; slices are checked against
//! the model's sizes before any call (a wrong length is an `Error`, never a bad read).
//! float32 models only (libgru's float64 models load, and `Model::load` refuses them).
pub mod ffi;

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::{c_char, c_int, c_void};
use std::path::Path;
use std::ptr::{self, NonNull};

/// A libgru failure: its status code and what libgru (or this wrapper) said.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub status: i32,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (libgru status {})", self.message, self.status)
    }
}

impl std::error::Error for Error {}

fn strerror(status: c_int) -> String {
    unsafe { CStr::from_ptr(ffi::gru_strerror(status)) }.to_string_lossy().into_owned()
}

fn check(status: c_int, what: &str) -> Result<(), Error> {
    if status == ffi::GRU_OK {
        Ok(())
    } else {
        Err(Error { status, message: format!("{}: {}", what, strerror(status)) })
    }
}

fn usage(message: String) -> Error {
    Error { status: 2, message } // GRU_ERR_INVALID_ARG
}

/// libgru's version, e.g. "0.1.0".
pub fn version() -> String {
    unsafe { CStr::from_ptr(ffi::gru_version()) }.to_string_lossy().into_owned()
}

/// A loaded float32 model; freed on drop.
pub struct Model {
    ptr: NonNull<ffi::GruModel>,
    cfg: ffi::GruConfig,
}

// The C model has no thread affinity; libgru lets one thread at a time use it.
unsafe impl Send for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        unsafe { ffi::gru_destroy(self.ptr.as_ptr()) }
    }
}

impl Model {
    /// Loads a model file (see gru.h's gru_load for what is checked).
    pub fn load<P: AsRef<Path>>(path: P) -> Result<Model, Error> {
        let abi = unsafe { ffi::gru_abi_version() };
        if abi != ffi::GRU_ABI_VERSION {
            return Err(usage(format!("libgru ABI {} linked, this crate speaks {}", abi,
                                     ffi::GRU_ABI_VERSION)));
        }
        let p = path.as_ref();
        let c_path = CString::new(p.to_string_lossy().as_bytes())
            .map_err(|_| usage(format!("path {:?} contains a NUL byte", p)))?;
        let mut out: *mut ffi::GruModel = ptr::null_mut();
        let mut msg = [0 as c_char; 512];
        let st = unsafe { ffi::gru_load(c_path.as_ptr(), &mut out, msg.as_mut_ptr(), msg.len()) };
        if st != ffi::GRU_OK {
            let text = unsafe { CStr::from_ptr(msg.as_ptr()) }.to_string_lossy().into_owned();
            return Err(Error { status: st, message: if text.is_empty() { strerror(st) } else { text } });
        }
        let ptr = NonNull::new(out).ok_or_else(|| usage("gru_load returned no model".into()))?;
        let mut model = Model { ptr, cfg: ffi::GruConfig::default() }; // freed on any error
        check(unsafe { ffi::gru_get_config(model.ptr.as_ptr(), &mut model.cfg) },
              "reading the config")?;
        if model.cfg.dtype != ffi::GRU_FLOAT32 {
            return Err(usage(format!("{}: a float64 model; this crate runs float32", p.display())));
        }
        Ok(model)
    }

    pub fn input_size(&self) -> usize { self.cfg.input_size as usize }
    pub fn hidden_size(&self) -> usize { self.cfg.hidden_size as usize }
    pub fn num_layers(&self) -> usize { self.cfg.num_layers as usize }
    pub fn bidirectional(&self) -> bool { self.cfg.bidirectional != 0 }
    /// Output width of a step: (1 or 2 directions) * hidden_size.
    pub fn output_size(&self) -> usize {
        self.hidden_size() * if self.bidirectional() { 2 } else { 1 }
    }

    /// The kernel set libgru chose, e.g. "avx512".
    pub fn isa(&self) -> String {
        unsafe { CStr::from_ptr(ffi::gru_isa(self.ptr.as_ptr())) }.to_string_lossy().into_owned()
    }

    /// Inference over whole sequences: x is (T, B, I) time-major, returns (T, B, D*H).
    pub fn forward(&mut self, x: &[f32], seq_len: usize, batch: usize) -> Result<Vec<f32>, Error> {
        let want = seq_len * batch * self.input_size();
        if seq_len == 0 || batch == 0 || x.len() != want {
            return Err(usage(format!("forward: x has {} values, (T={}, B={}, I={}) needs {}",
                                     x.len(), seq_len, batch, self.input_size(), want)));
        }
        let mut out = vec![0.0f32; seq_len * batch * self.output_size()];
        let st = unsafe {
            ffi::gru_forward(self.ptr.as_ptr(), 0, seq_len as i64, batch as i64, 0,
                             x.as_ptr() as *const c_void, ptr::null(), ptr::null(),
                             out.as_mut_ptr() as *mut c_void, ptr::null_mut(),
                             ptr::null_mut(), 0)
        };
        check(st, "gru_forward")?;
        Ok(out)
    }

    /// `batch` independent streams of this (unidirectional) model, all starting at zero.
    pub fn stream(&self, batch: usize) -> Result<Stream<'_>, Error> {
        if batch == 0 {
            return Err(usage("stream: batch must be >= 1".into()));
        }
        let mut bytes = 0usize;
        check(unsafe { ffi::gru_step_scratch_size(self.ptr.as_ptr(), batch as i64, &mut bytes) },
              "gru_step_scratch_size")?;
        Ok(Stream {
            model: self,
            batch,
            state: vec![0.0; self.num_layers() * batch * self.hidden_size()],
            scratch: vec![0u64; (bytes + 7) / 8], // 8-byte aligned, as gru_step needs
        })
    }
}

/// Streams of a model: the state (num_layers, batch, hidden_size) lives here; a step
/// allocates nothing.
pub struct Stream<'m> {
    model: &'m Model,
    batch: usize,
    state: Vec<f32>,
    scratch: Vec<u64>,
}

impl Stream<'_> {
    /// One frame per stream: x (batch, I) in, the last layer's new state (batch, H) out.
    pub fn step(&mut self, x: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let (i, h) = (self.model.input_size(), self.model.hidden_size());
        if x.len() != self.batch * i || out.len() != self.batch * h {
            return Err(usage(format!("step: x has {} values (needs {}), out {} (needs {})",
                                     x.len(), self.batch * i, out.len(), self.batch * h)));
        }
        let st = unsafe {
            ffi::gru_step(self.model.ptr.as_ptr(), self.batch as i64, x.as_ptr() as *const c_void,
                          self.state.as_mut_ptr() as *mut c_void, out.as_mut_ptr() as *mut c_void,
                          self.scratch.as_mut_ptr() as *mut c_void, self.scratch.len() * 8)
        };
        check(st, "gru_step")
    }

    /// Restarts stream `index` from zeros; the others go on.
    pub fn reset(&mut self, index: usize) -> Result<(), Error> {
        let st = unsafe {
            ffi::gru_step_reset(self.model.ptr.as_ptr(), self.batch as i64,
                                self.state.as_mut_ptr() as *mut c_void, index as i64)
        };
        check(st, "gru_step_reset")
    }

    /// The state, (num_layers, batch, hidden_size).
    pub fn state(&self) -> &[f32] { &self.state }
}
