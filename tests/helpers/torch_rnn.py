"""torch.nn.RNN / LSTM / GRU carrying a hat recurrent layer's weights, for parity tests."""

import numpy as np


def torch_twin(torch, layer):
    """The torch layer with `layer`'s weights: W.T is weight_ih, H.T weight_hh; an LSTM's or
    SimpleRnn's b is b_ih (with b_hh zero), a GRU's bH is b_hh."""
    from hat.layers.recurrent import GRU, LSTM

    n_in, u = layer.params["W"].shape[0], layer.n_out
    if isinstance(layer, LSTM):
        net = torch.nn.LSTM(n_in, u, batch_first=True)
        b_hh = np.zeros_like(layer.params["b"])  # hat's b is b_ih + b_hh
    elif isinstance(layer, GRU):
        net = torch.nn.GRU(n_in, u, batch_first=True)
        b_hh = layer.params["bH"]
    else:
        net = torch.nn.RNN(n_in, u, nonlinearity=layer.activation.name, batch_first=True)
        b_hh = np.zeros_like(layer.params["b"])
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.tensor(layer.params["W"].T))
        net.weight_hh_l0.copy_(torch.tensor(layer.params["H"].T))
        net.bias_ih_l0.copy_(torch.tensor(layer.params["b"]))
        net.bias_hh_l0.copy_(torch.tensor(b_hh))
    return net
