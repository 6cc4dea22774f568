"""lstm adds the candidate to the memory cell without the input gate: C = F * C + C_tilda."""
# module: ch06_rnn.lstm
# catches: any

def lstm(inputs, state, params):
    [W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q] = params
    (H, C) = state
    outputs = []
    for X in inputs:
        F = torch.sigmoid(torch.matmul(X, W_xf) + torch.matmul(H, W_hf) + b_f)
        O = torch.sigmoid(torch.matmul(X, W_xo) + torch.matmul(H, W_ho) + b_o)
        C_tilda = torch.tanh(torch.matmul(X, W_xc) + torch.matmul(H, W_hc) + b_c)
        C = F * C + C_tilda
        H = O * C.tanh()
        outputs.append(torch.matmul(H, W_hq) + b_q)
    return outputs, (H, C)
