"""A tiny GPT trained the way nanoGPT's train.py trains one, small enough for a CPU in seconds.

Mixed precision with a GradScaler, gradient accumulation, clip_grad_norm_, a warm-up cosine learning rate set by
hand every iteration, AdamW with decayed and undecayed groups, an evaluation that draws batches from the same
generator as training. The data is a synthetic token stream (a noisy cyclic pattern), generated in code.

    python examples/scripts/train_gpt.py --learning_rate 6e-4 --max_iters 200
    gradscope diagnose -- python examples/scripts/train_gpt.py --learning_rate 6e-4
"""

import argparse
import json
import math
import os
import time
from contextlib import nullcontext

import torch
import torch.nn as nn
from torch.nn import functional as F

parser = argparse.ArgumentParser(description="a tiny nanoGPT-style training loop")
parser.add_argument("--batch_size", type=int, default=8)
parser.add_argument("--block_size", type=int, default=32)
parser.add_argument("--n_layer", type=int, default=2)
parser.add_argument("--n_head", type=int, default=2)
parser.add_argument("--n_embd", type=int, default=32)
parser.add_argument("--dropout", type=float, default=0.0)
parser.add_argument("--vocab_size", type=int, default=64)
parser.add_argument("--learning_rate", type=float, default=6e-4)
parser.add_argument("--min_lr", type=float, default=None, help="default: learning_rate / 10")
parser.add_argument("--max_iters", type=int, default=200)
parser.add_argument("--warmup_iters", type=int, default=20)
parser.add_argument("--lr_decay_iters", type=int, default=None, help="default: max_iters")
parser.add_argument("--decay_lr", type=int, default=1)
parser.add_argument("--weight_decay", type=float, default=1e-1)
parser.add_argument("--beta1", type=float, default=0.9)
parser.add_argument("--beta2", type=float, default=0.95)
parser.add_argument("--grad_clip", type=float, default=1.0, help="0.0: no clipping")
parser.add_argument("--gradient_accumulation_steps", type=int, default=2)
parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
parser.add_argument("--init_scale", type=float, default=2.0**16, help="the GradScaler's first loss scale (float16)")
parser.add_argument("--eval_interval", type=int, default=50)
parser.add_argument("--eval_iters", type=int, default=4)
parser.add_argument("--log_interval", type=int, default=10)
parser.add_argument("--seed", type=int, default=1337)
args = parser.parse_args()
min_lr = args.learning_rate / 10 if args.min_lr is None else args.min_lr
lr_decay_iters = args.max_iters if args.lr_decay_iters is None else args.lr_decay_iters

torch.manual_seed(args.seed)
device = "cpu"
ptdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
ctx = nullcontext() if args.dtype == "float32" else torch.amp.autocast(device_type=device, dtype=ptdtype)

# -- data: a token stream with structure to learn (each token mostly follows its predecessor + 1) ------------
g = torch.Generator().manual_seed(0)
steps = torch.where(torch.rand(20_000, generator=g) < 0.9, 1, torch.randint(0, args.vocab_size, (20_000,), generator=g))
data = torch.cumsum(steps, 0) % args.vocab_size
n = int(0.9 * len(data))
train_data, val_data = data[:n], data[n:]


def get_batch(split):
    source = train_data if split == "train" else val_data
    ix = torch.randint(len(source) - args.block_size, (args.batch_size,))
    x = torch.stack([source[i:i + args.block_size] for i in ix])
    y = torch.stack([source[i + 1:i + 1 + args.block_size] for i in ix])
    return x, y


# -- model ------------------------------------------------------------------------------------------------------
class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(args.n_embd, 3 * args.n_embd)
        self.c_proj = nn.Linear(args.n_embd, args.n_embd)
        self.dropout = args.dropout

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(args.n_embd, dim=2)
        q = q.view(B, T, args.n_head, C // args.n_head).transpose(1, 2)
        k = k.view(B, T, args.n_head, C // args.n_head).transpose(1, 2)
        v = v.view(B, T, args.n_head, C // args.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(args.n_embd)
        self.attn = CausalSelfAttention()
        self.ln_2 = nn.LayerNorm(args.n_embd)
        self.mlp = nn.Sequential(nn.Linear(args.n_embd, 4 * args.n_embd), nn.GELU(),
                                 nn.Linear(4 * args.n_embd, args.n_embd), nn.Dropout(args.dropout))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(args.vocab_size, args.n_embd),
            wpe=nn.Embedding(args.block_size, args.n_embd),
            h=nn.ModuleList([Block() for _ in range(args.n_layer)]),
            ln_f=nn.LayerNorm(args.n_embd),
        ))
        self.lm_head = nn.Linear(args.n_embd, args.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            torch.nn.init.zeros_(module.bias)

    def forward(self, idx, targets=None):
        pos = torch.arange(idx.size(1), dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = None if targets is None else F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)


model = GPT()
scaler = torch.amp.GradScaler(device, init_scale=args.init_scale, enabled=(args.dtype == "float16"))
optimizer = model.configure_optimizers(args.weight_decay, args.learning_rate, (args.beta1, args.beta2))


@torch.no_grad()
def estimate_loss():
    out = {}
    model.eval()
    for split in ["train", "val"]:
        losses = torch.zeros(args.eval_iters)
        for k in range(args.eval_iters):
            X, Y = get_batch(split)
            with ctx:
                _, loss = model(X, Y)
            losses[k] = loss.item()
        out[split] = losses.mean()
    model.train()
    return out


def get_lr(it):
    if it < args.warmup_iters:  # linear warm-up
        return args.learning_rate * (it + 1) / (args.warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - args.warmup_iters) / (lr_decay_iters - args.warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # cosine down to min_lr
    return min_lr + coeff * (args.learning_rate - min_lr)


# The numbers this script computes itself, for gradscope's tests to check the attach against (one line per step).
truth = open(os.environ["GS_TEST_TRUTH"], "a") if os.environ.get("GS_TEST_TRUTH") else None

X, Y = get_batch("train")
t0 = time.time()
iter_num = 0
while True:
    lr = get_lr(iter_num) if args.decay_lr else args.learning_rate
    for param_group in optimizer.param_groups:
        param_group["lr"] = lr
    if iter_num % args.eval_interval == 0 and iter_num > 0:
        losses = estimate_loss()
        print(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
    step_loss = 0.0
    for micro_step in range(args.gradient_accumulation_steps):
        with ctx:
            logits, loss = model(X, Y)
            loss = loss / args.gradient_accumulation_steps
        X, Y = get_batch("train")  # prefetch the next batch, as nanoGPT does
        scaler.scale(loss).backward()
        step_loss += loss.item()
    grad_norm = None
    if args.grad_clip != 0.0:
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip).item()
    scale_before = scaler.get_scale() if scaler.is_enabled() else None
    scaler.step(optimizer)
    scaler.update()
    if truth:
        skipped = scaler.is_enabled() and scaler.get_scale() < scale_before
        truth.write(json.dumps({"step": iter_num, "loss": step_loss, "grad_norm": grad_norm, "lr": lr,
                                "amp_skipped": bool(skipped)}) + "\n")
        truth.flush()
    optimizer.zero_grad(set_to_none=True)
    if iter_num % args.log_interval == 0:
        dt, t0 = time.time() - t0, time.time()
        print(f"iter {iter_num}: loss {step_loss:.4f}, time {dt * 1000:.2f}ms")
    iter_num += 1
    if iter_num >= args.max_iters:
        break
