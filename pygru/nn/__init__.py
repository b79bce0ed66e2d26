"""pygru.nn - layers, the GRU layer, selections and losses with explicit forward and
backward, for training models with NumPy and libgru alone (no autograd framework).

    import pygru.nn as nn, pygru.optim as optim

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(100, 16, padding_idx=0)
            self.gru = nn.GRU(16, 32, batch_first=True)
            self.last = nn.LastValid(batch_first=True)
            self.fc = nn.Linear(32, 1)

        def forward(self, tokens, lengths):       # (B, T) -> logits (B, 1)
            out, _ = self.gru(self.embedding(tokens), lengths=lengths)
            return self.fc(self.last(out, lengths))

        def backward(self, grad):                 # children in reverse order
            dx, _ = self.gru.backward(self.last.backward(self.fc.backward(grad)))
            self.embedding.backward(dx)

    model, criterion = Classifier(), nn.BCEWithLogitsLoss()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    opt.zero_grad()
    loss = criterion(model(tokens, lengths), labels)
    model.backward(criterion.backward())
    opt.step()

Names and state dicts follow torch.nn (pygru/module.py states the rules once). GRU and
GRUCell are pygru.GRU and pygru.GRUCell themselves: one class, whose Parameters are
views of libgru's storage. TargetAttention scores a sequence against a target vector for
an AUGRU (pygru.GRU(augru=True), docs/python.md "AUGRU").
"""
from ..gru import GRU, GRUCell
from ..module import Module, Parameter, Sequential
from .layers import BatchNorm1d, Dropout, Embedding, LayerNorm, Linear
from .attention import TargetAttention
from .recurrent import (FinalStates, LastValid, final_states, final_states_backward,
                        last_valid, last_valid_backward)
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss

__all__ = ["Parameter", "Module", "Sequential", "Embedding", "Linear", "Dropout",
           "BatchNorm1d", "LayerNorm", "GRU", "GRUCell", "LastValid", "FinalStates", "last_valid",
           "last_valid_backward", "final_states", "final_states_backward",
           "BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss", "TargetAttention"]
