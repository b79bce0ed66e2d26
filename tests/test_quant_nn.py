"""test_quant_nn.py - pygru.nn models through int8 (pygru.quantize_module /
Module.quantize): every GRU / GRUCell child (shared ones once) replaced by a
QuantizedModule whose results are the QuantizedGRU's bitwise; the other layers copied,
the source model untouched; eval only (train(True) ValueError before any mode changes,
backward GRUError); save / load_state_dict refused with a clear message; argument
errors. The accuracy on trained models: test_quant_accuracy.py (slow)."""
import numpy as np
import pytest

import pygru
import pygru.nn as nn
from pygru.quant import QuantizedModule

RNG = np.random.default_rng(3)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(30, 8, seed=0)
        self.gru = nn.GRU(8, 12, num_layers=2, batch_first=True, dropout=0.3, seed=1)
        self.last = nn.LastValid(batch_first=True)
        self.cell = nn.GRUCell(12, 6, seed=2)
        self.fc = nn.Linear(6, 2, seed=3)

    def forward(self, tokens, lengths):
        out, _ = self.gru(self.embedding(tokens), lengths=lengths)
        return self.fc(self.cell(self.last(out, lengths)))


def test_quantize_module_bitwise_and_copy():
    m = Net()
    tokens, lengths = RNG.integers(0, 30, (5, 9)), np.array([9, 3, 1, 7, 9])
    q = pygru.quantize_module(m, "int8")
    assert isinstance(q, Net) and isinstance(q.gru, QuantizedModule)
    assert isinstance(q.cell, QuantizedModule) and isinstance(m.gru, pygru.GRU)
    assert q.embedding is not m.embedding and not q.training and m.training
    e = m.embedding(tokens)
    qg = m.gru.quantize("int8")
    out_q, hn_q = q.gru(e, lengths=lengths)
    out_r, hn_r = qg(e, lengths=lengths)
    assert np.array_equal(out_q, out_r) and np.array_equal(hn_q, hn_r)
    assert q.gru.hidden_size == 12 and q.gru.batch_first and q.gru.int8_isa
    y_f, y_q = m.eval()(tokens, lengths), q(tokens, lengths)
    assert y_q.dtype == np.float32 and np.abs(y_f - y_q).max() < 0.05
    assert "QuantizedGRU(8, 12, num_layers=2" in repr(q)
    assert [k for k, _ in q.named_parameters()] == [
        k for k, _ in m.named_parameters() if not k.startswith(("gru.", "cell."))]
    again = m.quantize("int8")
    assert np.array_equal(again(tokens, lengths), y_q)


def test_shared_gru_quantized_once():
    g = pygru.GRU(3, 4, seed=0)
    s = nn.Sequential(g, nn.Dropout(0.1))
    s.__dict__["alias"] = g
    q = pygru.quantize_module(s)
    assert isinstance(q[0], QuantizedModule) and q.__dict__["alias"] is q[0]
    assert isinstance(pygru.quantize_module(g), QuantizedModule)


def test_eval_only_and_clear_errors():
    m = Net()
    q = m.quantize()
    with pytest.raises(ValueError, match="inference-only"):
        q.train()
    assert not any(x.training for x in q.modules())   # nothing changed on refusal
    q.train(False)
    q.eval()
    with pytest.raises(pygru.GRUError, match="no backward"):
        q.gru.backward(np.zeros((5, 9, 12), np.float32))
    with pytest.raises(TypeError, match="int8 GRU"):
        q.save("/nonexistent/x.safetensors")
    with pytest.raises(TypeError, match="int8 GRU"):
        q.load_state_dict(m.state_dict())
    with pytest.raises(ValueError, match="format"):
        pygru.quantize_module(m, "int4")
    with pytest.raises(TypeError, match="model"):
        pygru.quantize_module(object())


def test_quantized_gru_saved_alone(tmp_path):
    q = Net().quantize()
    path = q.gru.save(tmp_path / "g.safetensors")   # the QuantizedGRU's own file
    r = pygru.load(path)
    x = RNG.uniform(-1, 1, (2, 5, 8)).astype(np.float32)
    assert all(np.array_equal(a, b) for a, b in zip(q.gru(x), r(x)))
