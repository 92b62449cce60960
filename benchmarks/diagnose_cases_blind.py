"""A blind split for `benchmarks/diagnose_accuracy.py --split blind` (issue 22, items 2 and 3): written by a
helper who had not read the early-instability or vanishing detectors, to score them once, not to tune on.

    .venv/bin/python benchmarks/diagnose_accuracy.py --split blind [--cases a,b] [--plain-only]

The cases are declared as in diagnose_cases.py (its factories, its `_case`, its labels and their checks against
the plain torch loop), and never join `--split all`:

- an unstable start under Adam/AdamW without warm-up (`early`: within 20 steps the loss rises >= 1.3x its start
  or the gradient norm jumps >= 4x while the loss is worse, then it settles below its start but above where its
  warm-up twin gets: at least a warning), on a Llama and a GRU language model; a conv net under Adam whose
  start throws it and that later gives back much of its progress (`unstable`: a warning);
- their healthy twins (warm-up, cosine, bf16, fp16, accumulation) and Adam's normal early transients (`fine`);
- runs with a real depth ratio (first / last weight-matrix gradient <= 1e-2) that train well (`fine` with
  `also=("ratio",)`: healthy, no warning; an info-level note is allowed), beside a deep sigmoid MLP whose
  gradients vanish and that does not train (`broken` with `also=("vanish",)`: critical with vanishing_gradient).

Each label was chosen from the plain loop's numbers (its loss curve, the twin's late loss, the depth ratio),
never from what gradscope reports; the numbers are in each description.
"""

from __future__ import annotations

from diagnose_cases import Case, _case

CASES: list[Case] = [
    # -- an unstable start under Adam/AdamW, and its healthy twins ------------------------------------------------
    _case("llama_adamw_012_no_warmup", "transformer", "early",
          "Hugging Face Llama (2 layers, width 64) on Markov text; AdamW lr 0.12 from step 0: the loss rises from "
          "4.18 to 6.67 by step 4 (rolling median 1.45x) with a 3.1x norm jump, then settles at 3.41",
          model="build_llama, { }", data="markov_tokens, { n = 512, seed = 7 }",
          optimizer='name = "AdamW"\nlr = 0.12', steps=100, seed=11, batch_size=16),
    _case("llama_adamw_012_warmup", "transformer", "fine",
          "its twin with a 25-step linear warm-up and linear decay",
          model="build_llama, { }", data="markov_tokens, { n = 512, seed = 7 }",
          optimizer='name = "AdamW"\nlr = 0.12', steps=100, seed=11, batch_size=16,
          schedule='name = "linear"\nwarmup_steps = 25'),
    _case("llama3_adamw_5e2_warmup", "transformer", "fine",
          "a 3-layer Llama, AdamW lr 5e-2 with a 25-step linear warm-up and linear decay: 4.18 -> 2.22",
          model="build_llama, { layers = 3 }", data="markov_tokens, { n = 512, seed = 7 }",
          optimizer='name = "AdamW"\nlr = 0.05', steps=100, seed=11, batch_size=16,
          schedule='name = "linear"\nwarmup_steps = 25'),
    _case("gpt2_adamw_cosine", "transformer", "fine",
          "Hugging Face GPT-2 (3 blocks, width 64); AdamW lr 6e-2, cosine with a 20-step warm-up: 4.20 -> 3.41",
          model="build_gpt2, { layers = 3 }", data="markov_tokens, { n = 512, seed = 8 }",
          optimizer='name = "AdamW"\nlr = 0.06', steps=100, seed=12, batch_size=16,
          schedule='name = "cosine"\nwarmup_steps = 20'),
    _case("gpt2_fp16_adamw_warmup", "transformer", "fine",
          "a 2-block GPT-2 under fp16 with a GradScaler; AdamW lr 2e-2, linear warm-up over 15 steps",
          model="build_gpt2, { }", data="markov_tokens, { n = 512, seed = 10 }",
          optimizer='name = "AdamW"\nlr = 0.02', steps=100, seed=15, batch_size=16, precision="fp16",
          schedule='name = "linear"\nwarmup_steps = 15'),
    _case("gru_lm_adam_015_no_warmup", "recurrent", "early",
          "GRU language model (hidden 64) on Markov text; Adam lr 0.15 from step 0: the loss rises from 2.80 to "
          "4.49 at step 2 (rolling median 1.33x, norm 3.7x), then settles at 2.35 (its warm-up twin: 2.05)",
          model='build_recurrent_lm, { cell = "gru", vocab = 16, hidden = 64 }',
          data="markov_text, { n = 1024, seed = 9 }",
          optimizer='name = "Adam"\nlr = 0.15', steps=150, seed=13, batch_size=32),
    _case("gru_lm_adam_015_accumulate_warmup", "recurrent", "fine",
          "its twin: 4 micro-batches of 8 per step (the same rows), a 30-step linear warm-up: 2.80 -> 2.05",
          model='build_recurrent_lm, { cell = "gru", vocab = 16, hidden = 64 }',
          data="markov_text, { n = 1024, seed = 9 }",
          optimizer='name = "Adam"\nlr = 0.15', steps=150, seed=13, batch_size=8, accumulate=4,
          schedule='name = "linear"\nwarmup_steps = 30'),
    _case("resnet_adam_015_no_warmup", "conv", "unstable",
          "the small ResNet-style conv net (BatchNorm) on shifted noisy patterns; Adam lr 0.15 from step 0: the "
          "training loss jumps 1.39 -> 3.73 at step 1, the fixed-batch eval loss 174x by step 4; it learns, best "
          "0.07, and ends at 0.30 (3x its best)",
          model="build_resnet, { }", data="image_classes, { n = 1024, seed = 3 }", loss="CrossEntropyLoss",
          optimizer='name = "Adam"\nlr = 0.15', steps=120, seed=14, batch_size=32),
    _case("resnet_adamw_cosine", "conv", "fine",
          "the same net, AdamW lr 1e-3, weight decay 0.05, cosine decay with a 10-step warm-up: 1.39 -> 0.46",
          model="build_resnet, { }", data="image_classes, { n = 1024, seed = 3 }", loss="CrossEntropyLoss",
          optimizer='name = "AdamW"\nlr = 0.001\nweight_decay = 0.05', steps=120, seed=14, batch_size=32,
          schedule='name = "cosine"\nwarmup_steps = 10'),
    _case("mlp_gelu_adam_transient", "feed-forward", "fine",
          "6-layer GELU MLP (width 128) on blobs; Adam lr 3e-3 from step 0: its norm grows 6x over the first 6 "
          "steps while the loss falls (Adam's usual start), 1.38 -> 0.26",
          model='build_mlp, { inputs = 16, width = 128, depth = 6, outputs = 4, activation = "gelu" }',
          data="blobs, { n = 2048, spread = 0.6, seed = 4 }", loss="CrossEntropyLoss",
          optimizer='name = "Adam"\nlr = 0.003', steps=200, seed=16, batch_size=64),
    # -- a real depth ratio that does not stop training, beside a run whose gradients vanish ---------------------
    _case("mlp_wide_sigmoid_bf16_adam", "feed-forward", "fine",
          "wide sigmoid MLP (width 256, 6 layers) under bf16, 10 blobs; Adam lr 3e-3: first / last weight-matrix "
          "gradient ~1e-2, and it trains (2.31 -> 1.16, eval loss 0.50x its start)",
          model='build_mlp, { inputs = 32, width = 256, depth = 6, outputs = 10, activation = "sigmoid" }',
          data="blobs, { n = 2048, inputs = 32, classes = 10, spread = 1.0, noise = 0.5, seed = 5 }",
          loss="CrossEntropyLoss", optimizer='name = "Adam"\nlr = 0.003', steps=200, seed=17, batch_size=64,
          precision="bf16", also=("ratio",)),
    _case("mlp_sigmoid_14_sgd", "feed-forward", "broken",
          "14-layer sigmoid MLP (width 64) on blobs; SGD lr 0.1, momentum 0.9: first / last weight-matrix "
          "gradient ~4e-11, the loss stays at chance (1.40 -> 1.39)",
          model='build_mlp, { inputs = 16, width = 64, depth = 14, outputs = 4, activation = "sigmoid" }',
          data="blobs, { n = 2048, spread = 1.0, seed = 6 }", loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.1\nmomentum = 0.9', steps=200, seed=20, batch_size=64,
          also=("vanish",)),
]

CASE_NAMES = [c.name for c in CASES]
assert len(set(CASE_NAMES)) == len(CASE_NAMES)
