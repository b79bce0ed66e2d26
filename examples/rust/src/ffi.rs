//! ffi.rs - hand-written declarations of the part of gru.h this crate uses. The layout
//! of `GruConfig` must match `gru_config` field for field (gru.h's GRU_ABI_VERSION 5);
//! `Model::load` checks the ABI version of the library it was linked with.
use std::os::raw::{c_char, c_int, c_void};

pub const GRU_OK: c_int = 0;
pub const GRU_FLOAT32: i32 = 1;
pub const GRU_FLOAT64: i32 = 2;
pub const GRU_ABI_VERSION: c_int = 5;

/// `gru_model`, opaque.
#[repr(C)]
pub struct GruModel {
    _private: [u8; 0],
}

/// `gru_config`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GruConfig {
    pub input_size: i64,
    pub hidden_size: i64,
    pub num_layers: i64,
    pub bidirectional: i32,
    pub bias: i32,
    pub reset_after: i32,
    pub dtype: i32,
    pub dropout: f64,
    pub seed: u64,
    pub reverse: i32,
    pub input_dropout: f64,
    pub recurrent_dropout: f64,
    pub layer_norm: i32,
    pub zoneout: f64,
    pub weight_dropout: f64,
    pub augru: i32,
}

extern "C" {
    pub fn gru_version() -> *const c_char;
    pub fn gru_abi_version() -> c_int;
    pub fn gru_strerror(status: c_int) -> *const c_char;
    pub fn gru_isa(model: *const GruModel) -> *const c_char;
    pub fn gru_load(path: *const c_char, out: *mut *mut GruModel, message: *mut c_char,
                    message_size: usize) -> c_int;
    pub fn gru_save(model: *const GruModel, path: *const c_char) -> c_int;
    pub fn gru_destroy(model: *mut GruModel);
    pub fn gru_get_config(model: *const GruModel, cfg: *mut GruConfig) -> c_int;
    pub fn gru_forward(model: *mut GruModel, training: c_int, seq_len: i64, batch: i64,
                       batch_first: c_int, x: *const c_void, h0: *const c_void,
                       lengths: *const i32, output: *mut c_void, h_n: *mut c_void,
                       workspace: *mut c_void, workspace_bytes: usize) -> c_int;
    pub fn gru_step_scratch_size(model: *const GruModel, batch: i64, bytes: *mut usize) -> c_int;
    pub fn gru_step(model: *mut GruModel, batch: i64, x: *const c_void, state: *mut c_void,
                    output: *mut c_void, scratch: *mut c_void, scratch_bytes: usize) -> c_int;
    pub fn gru_step_reset(model: *const GruModel, batch: i64, state: *mut c_void,
                          index: i64) -> c_int;
}
