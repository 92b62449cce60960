"""Sine waves predicted by a two-cell LSTM trained with LBFGS and a closure, as pytorch/examples'
time_sequence_prediction does (the data is generated here instead of loaded from traindata.pt)."""

import argparse
import json
import os

import numpy as np
import torch
import torch.nn as nn


class Sequence(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.hidden = hidden
        self.lstm1 = nn.LSTMCell(1, hidden)
        self.lstm2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):  # predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=4, help="steps to run")
    parser.add_argument("--lr", type=float, default=0.8)
    args = parser.parse_args()
    np.random.seed(0)
    torch.manual_seed(0)
    T, L, N = 20, 40, 12
    x = np.empty((N, L), "int64")
    x[:] = np.array(range(L)) + np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
    data = torch.from_numpy(np.sin(x / 1.0 / T).astype("float64"))
    input, target = data[3:, :-1], data[3:, 1:]
    test_input, test_target = data[:3, :-1], data[:3, 1:]
    seq = Sequence().double()
    criterion = nn.MSELoss()
    optimizer = torch.optim.LBFGS(seq.parameters(), lr=args.lr, max_iter=5)
    truth = open(os.environ["GS_TEST_TRUTH"], "a") if os.environ.get("GS_TEST_TRUTH") else None
    for i in range(args.steps):
        print("STEP: ", i)
        evaluations = []

        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            print("loss:", loss.item())
            loss.backward()
            if truth:  # the global gradient norm of this evaluation, computed by hand
                norms = [p.grad.norm() for p in seq.parameters() if p.grad is not None]
                evaluations.append((loss.item(), torch.stack(norms).norm().item()))
            return loss

        optimizer.step(closure)
        if truth:  # a step is the first closure evaluation: the loss and gradient the step starts from
            truth.write(json.dumps({"step": i, "loss": evaluations[0][0], "grad_norm": evaluations[0][1],
                                    "evaluations": len(evaluations)}) + "\n")
            truth.flush()
        with torch.no_grad():  # begin to predict, no need to track gradient here
            future = 10
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            print("test loss:", loss.item())
