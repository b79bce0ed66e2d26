"""test_hostile_arguments.py - issue 11: never a silently wrong number; a bad argument
gets a TypeError/ValueError naming it.

* Aliasing (finding 6): GRU.step refuses any overlap between x, state and out (libgru
  reads x and state while it writes state and out; on a 2-layer model out=state[-1]
  used to give a wrong output and state without a word), before any C code runs, with
  a ValueError naming both arguments; disjoint views of one buffer still work, bitwise.
"""
import numpy as np
import pytest

import pygru
from pygru import _validate

F32, F64 = np.float32, np.float64


def rand(rng, *shape, dtype=F32):
    return rng.standard_normal(shape).astype(dtype)


# ---- finding 6: aliased step buffers -------------------------------------------------

def _step_case(L=2, I=5, H=5, B=1, seed=0):
    g = pygru.GRU(I, H, num_layers=L, seed=seed).eval()
    rng = np.random.default_rng(seed)
    return g, rand(rng, B, I), rand(rng, L, B, H)


def test_step_out_aliasing_state_is_refused():
    """The issue's case: on a 2-layer model, out=state[-1] gave a wrong output and a
    wrong state. Now a ValueError naming out and state, and state is left alone."""
    g, x, s0 = _step_case(L=2)
    ref_state = s0.copy()
    ref_out = g.step(x, ref_state)
    state = s0.copy()
    with pytest.raises(ValueError, match=r"^out must not overlap state"):
        g.step(x, state, out=state[-1])
    np.testing.assert_array_equal(state, s0)   # refused before libgru ran
    with pytest.raises(ValueError, match=r"^out must not overlap state"):
        g.step(x, state, out=state[0])
    # a partial overlap: out straddles the two layers' rows
    flat = state.reshape(-1)
    with pytest.raises(ValueError, match=r"^out must not overlap state"):
        g.step(x, state, out=flat[2:7].reshape(1, 5))
    # one layer too: the rule is that step's buffers never overlap
    g1, x1, s1 = _step_case(L=1)
    with pytest.raises(ValueError, match=r"^out must not overlap state"):
        g1.step(x1, s1, out=s1[0])
    # and the separate-buffer result is what the aliased call would have had to give
    state = s0.copy()
    out = np.empty_like(ref_out)
    g.step(x, state, out=out)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(state, ref_state)


@pytest.mark.parametrize("layer", [0, 1])
def test_step_x_aliasing_state_or_out_is_refused(layer):
    g, _, s0 = _step_case(L=2)
    state = s0.copy()
    with pytest.raises(ValueError, match=r"^x must not overlap state"):
        g.step(state[layer], state)
    # the conversion makes no copy of a memoryview: its ndarray is still state's memory
    with pytest.raises(ValueError, match=r"^x must not overlap state"):
        g.step(memoryview(state[layer]), state)
    with pytest.raises(ValueError, match=r"^x must not overlap state"):
        g.step(state[layer, 0], state[:, 0, :])          # one stream, 1-D frames
    np.testing.assert_array_equal(state, s0)
    x = s0[layer].copy()
    with pytest.raises(ValueError, match=r"^out must not overlap x"):
        g.step(x, state, out=x)


def test_step_disjoint_views_of_one_buffer_are_accepted():
    """No false alarm: x, state and out as disjoint contiguous pieces of one array give
    bitwise the results of separate arrays."""
    L, B, H = 2, 3, 5
    g = pygru.GRU(H, H, num_layers=L, seed=1).eval()
    rng = np.random.default_rng(1)
    x0, s0 = rand(rng, B, H), rand(rng, L, B, H)
    ref_state = s0.copy()
    ref_out = g.step(x0, ref_state)
    buf = np.empty((L + 2, B, H), F32)
    state, out, x = buf[:L], buf[L], buf[L + 1]
    state[...] = s0
    x[...] = x0
    assert g.step(x, state, out=out) is out
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(state, ref_state)
    np.testing.assert_array_equal(x, x0)


def test_reset_state_and_step_refuse_a_self_overlapping_state():
    """A state whose rows overlap one another (a stride-0 or short-stride view made
    writable by as_strided) cannot be updated in place: refused as not C-contiguous."""
    g = pygru.GRU(3, 4, num_layers=2, seed=0).eval()
    base = np.zeros(2 * 4, F32)
    state = np.lib.stride_tricks.as_strided(base, shape=(2, 2, 4), strides=(16, 0, 4))
    with pytest.raises(ValueError, match=r"^state must be C-contiguous"):
        g.reset_state(state, 0)
    with pytest.raises(ValueError, match=r"^state must be C-contiguous"):
        g.step(np.zeros((2, 3), F32), state)


def test_check_disjoint_on_strided_arrays():
    """pygru._validate.check_disjoint is exact for strided arrays too: interleaved
    columns of one array do not overlap (bounds overlap, memory does not)."""
    a = np.zeros((4, 6), F32)
    _validate.check_disjoint(a[:, ::2], "a", a[:, 1::2], "b")
    with pytest.raises(ValueError, match=r"^a must not overlap b"):
        _validate.check_disjoint(a[:, ::2], "a", a[:, 2::2], "b")
