"""A second blind split for `benchmarks/diagnose_accuracy.py --split blind2`: written by a helper who had not read
gradscope's code, its README or docs, nor any of its diagnose output, to score it once, not to tune on.

    .venv/bin/python benchmarks/diagnose_accuracy.py --split blind2 [--cases a,b] [--plain-only]

The cases are declared as in diagnose_cases.py (its factories, its `_case`, its labels and their checks against
the plain torch loop; one factory was appended for them at the end of diagnose_cases.py: `build_convnet`, a plain
conv net without normalisation), and never join `--split all`:

- an unstable start under AdamW/Adam/NAdam without warm-up (`early`) on a nanoGPT-shaped decoder, an LSTM language
  model and a one-layer Hugging Face Llama, each beside its healthy twin (the same lr with a cosine or linear
  warm-up; gradient accumulation; fp16 with a GradScaler), whose late loss is lower;
- healthy runs (`fine`): Adam's normal start (the gradient norm grows ~10x while the loss falls), SGD with or
  without momentum on a conv net without BatchNorm, a ResNet with BatchNorm (StepLR), a GRU forecaster and a
  Hugging Face GPT-2; a tanh MLP with 3x its Glorot init that trains under bf16; a deep sigmoid MLP whose first
  weight matrix gets ~2e-4 of the last one's gradient and that trains well (`also=("ratio",)`);
- the classics: NaN from a too-high SGD lr on GPT-2 and from an ExponentialLR whose gamma is above 1 (`explode`),
  exponential growth of the gradient norm to overflow in a vanilla RNN on unscaled data (`growth`), a OneCycleLR
  peak that throws a conv net and a late divergence under a slowly rising lr (`unstable`), the same OneCycleLR
  with a higher peak that leaves the net at chance and an 18-layer tanh MLP with torch's default init that never
  trains (`broken`, the latter with vanishing gradients), a 10-layer sigmoid MLP that learns only part of the
  task while its first layer's gradient is ~6e-5 of the last one's (`vanish`).

Each label was chosen from the plain loop's numbers (its loss curve, the fixed-batch eval loss, the twin's late
loss, the depth ratio) under diagnose_accuracy.py's LABEL_* criteria, never from what gradscope reports; the
numbers are in each description (loss = training loss: start = first step, late = median of the last 10%).
"""

from __future__ import annotations

from diagnose_cases import Case, _case

_DECODER = "build_decoder, { vocab = 24, d_model = 48, heads = 4, layers = 3, seq_len = 24 }"
_DECODER_DATA = "markov_text, { n = 1024, seq_len = 24, vocab = 24, seed = 22 }"
_LSTM_LM = 'build_recurrent_lm, { cell = "lstm", vocab = 20, hidden = 48 }'
_LSTM_LM_DATA = "markov_text, { n = 1024, vocab = 20, seed = 23 }"
_LLAMA1 = "build_llama, { hidden = 48, layers = 1, heads = 4, intermediate = 96, vocab = 48, seq_len = 24 }"
_LLAMA1_DATA = "markov_tokens, { n = 512, seq_len = 24, vocab = 48, seed = 24 }"
_CONVNET = "build_convnet, { channels = 16, classes = 5 }"
_IMAGES = "image_classes, { n = 1024, classes = 5, seed = 41 }"
_RELU5 = 'build_mlp, { inputs = 16, width = 64, depth = 5, outputs = 5, init = "kaiming" }'
_BLOBS5 = "blobs, { n = 2048, classes = 5, spread = 0.7, seed = 49 }"

CASES: list[Case] = [
    # -- an unstable start without warm-up, and its healthy twin ------------------------------------------------
    _case("decoder_adamw_015_no_warmup", "transformer", "early",
          "pre-norm causal LM (3 layers, width 48) on 24-token Markov text; AdamW lr 0.15, weight decay 0.1, from "
          "step 0: the loss rises from 3.34 to 6.32 at step 2 (rolling median 1.73x its start, norm 2.97x), then "
          "settles at 3.04 (its cosine warm-up twin: 2.37)",
          model=_DECODER, data=_DECODER_DATA,
          optimizer='name = "AdamW"\nlr = 0.15\nweight_decay = 0.1', steps=120, seed=32, batch_size=32),
    _case("decoder_adamw_015_cosine_warmup", "transformer", "fine",
          "its twin: the same lr with a 30-step warm-up and cosine decay: 3.34 -> 2.37, no rise",
          model=_DECODER, data=_DECODER_DATA,
          optimizer='name = "AdamW"\nlr = 0.15\nweight_decay = 0.1', steps=120, seed=32, batch_size=32,
          schedule='name = "cosine"\nwarmup_steps = 30'),
    _case("lstm_lm_adam_06_no_warmup", "recurrent", "early",
          "LSTM language model (hidden 48) on Markov text; Adam lr 0.6 from step 0: the loss rises from 3.01 to "
          "4.93 at step 2 (rolling median 1.48x, norm 6.4x its first value), then settles at 2.49 (its warm-up "
          "twin: 2.29)",
          model=_LSTM_LM, data=_LSTM_LM_DATA, optimizer='name = "Adam"\nlr = 0.6', steps=150, seed=33, batch_size=32),
    _case("lstm_lm_adam_06_accumulate_warmup", "recurrent", "fine",
          "its twin: 4 micro-batches of 8 per step (the same rows) and a 30-step linear warm-up, then linear decay: "
          "3.01 -> 2.29",
          model=_LSTM_LM, data=_LSTM_LM_DATA, optimizer='name = "Adam"\nlr = 0.6', steps=150, seed=33, batch_size=8,
          accumulate=4, schedule='name = "linear"\nwarmup_steps = 30'),
    _case("llama1_nadam_02_no_warmup", "transformer", "early",
          "one-layer Hugging Face Llama (width 48) on Markov text; NAdam lr 0.2 from step 0: the loss rises from "
          "3.88 to 5.35 at step 2 (rolling median 1.35x, norm 2.4x), then settles at 3.24 (its fp16 warm-up twin: "
          "2.74)",
          model=_LLAMA1, data=_LLAMA1_DATA, optimizer='name = "NAdam"\nlr = 0.2', steps=100, seed=44, batch_size=16),
    _case("llama1_nadam_02_fp16_warmup", "transformer", "fine",
          "its twin under fp16 autocast with a GradScaler and a 40-step linear warm-up, then linear decay: "
          "3.88 -> 2.74 (eval loss 0.69x its start, never above 1.25x its best)",
          model=_LLAMA1, data=_LLAMA1_DATA, optimizer='name = "NAdam"\nlr = 0.2', steps=100, seed=44, batch_size=16,
          precision="fp16", schedule='name = "linear"\nwarmup_steps = 40'),
    # -- healthy runs ----------------------------------------------------------------------------------------------
    _case("mlp_relu256_adam_transient", "feed-forward", "fine",
          "4-layer ReLU MLP of width 256 on 8 overlapping blobs; Adam lr 3e-3 from step 0: the gradient norm grows "
          "from 0.34 to 3.2 (~10x) over the first 15 steps while the loss falls from 2.08 to 0.47 (Adam's usual "
          "start); it ends at 0.17",
          model="build_mlp, { inputs = 24, width = 256, depth = 4, outputs = 8 }",
          data="blobs, { n = 2048, inputs = 24, classes = 8, spread = 0.6, seed = 63 }", loss="CrossEntropyLoss",
          optimizer='name = "Adam"\nlr = 0.003', steps=150, seed=64, batch_size=64),
    _case("convnet_sgd_momentum_cosine", "conv", "fine",
          "plain conv net without BatchNorm (3 conv-ReLU layers, max-pools, an MLP head) on shifted noisy "
          "patterns; SGD lr 0.03, momentum 0.9, cosine decay: a slow start, then 1.63 -> 0.24 (eval rise <= 1.38x "
          "its best)",
          model=_CONVNET, data=_IMAGES, loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.03\nmomentum = 0.9', steps=150, seed=51, batch_size=32,
          schedule='name = "cosine"\nwarmup_steps = 0'),
    _case("resnet3_sgd_steplr", "conv", "fine",
          "ResNet-style net with BatchNorm (3 residual blocks, width 12); plain SGD lr 0.1, weight decay 5e-4, "
          "StepLR x0.2 at step 75, batches of 64: 1.66 -> 0.11",
          model="build_resnet, { channels = 12, classes = 5, blocks = 3 }", data=_IMAGES, loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.1\nweight_decay = 5e-4', steps=150, seed=52, batch_size=64,
          schedule='name = "StepLR"\nstep_size = 75\ngamma = 0.2'),
    _case("gru_forecast_sgd_momentum", "recurrent", "fine",
          "GRU (hidden 32) forecasting noisy sines; SGD lr 0.05, momentum 0.9: 0.303 -> 0.067",
          model='build_recurrent, { cell = "gru", inputs = 1, hidden = 32 }',
          data="sine_forecast, { n = 1024, seq_len = 24, noise = 0.15, seed = 42 }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.05\nmomentum = 0.9', steps=200, seed=53, batch_size=32),
    _case("gpt2_sgd_momentum", "transformer", "fine",
          "Hugging Face GPT-2 (2 blocks, width 64) on Markov text; SGD lr 0.3, momentum 0.9: 4.18 -> 2.68",
          model="build_gpt2, { }", data="markov_tokens, { n = 512, seed = 25 }",
          optimizer='name = "SGD"\nlr = 0.3\nmomentum = 0.9', steps=80, seed=62, batch_size=16),
    _case("mlp_tanh_gain3_bf16", "feed-forward", "fine",
          "5-layer tanh MLP (width 128) at 3x its Glorot init (saturated units, a first loss of 5.34) under bf16; "
          "Adam lr 1e-3: it trains well, 5.34 -> 0.07",
          model='build_mlp, { inputs = 16, width = 128, depth = 5, outputs = 6, activation = "tanh", '
                'init = "xavier", gain = 3.0 }',
          data="blobs, { n = 2048, classes = 6, spread = 0.7, seed = 44 }", loss="CrossEntropyLoss",
          optimizer='name = "Adam"\nlr = 0.001', steps=150, seed=55, batch_size=64, precision="bf16"),
    _case("mlp_sigmoid8_adamw_ratio", "feed-forward", "fine",
          "8-layer sigmoid MLP (width 128, Glorot init) on well-separated blobs; AdamW lr 3e-3: the first weight "
          "matrix gets ~1.7e-4 of the last one's gradient, and after a 40-step plateau it trains well (1.83 -> 0.32, "
          "eval loss 0.18x its start)",
          model='build_mlp, { inputs = 16, width = 128, depth = 8, outputs = 4, activation = "sigmoid", '
                'init = "xavier" }',
          data="blobs, { n = 2048, spread = 2.0, seed = 45 }", loss="CrossEntropyLoss",
          optimizer='name = "AdamW"\nlr = 0.003', steps=200, seed=56, batch_size=64, also=("ratio",)),
    # -- explode / growth -------------------------------------------------------------------------------------------
    _case("gpt2_sgd_lr1_nan", "transformer", "explode",
          "the same GPT-2 with SGD lr 1.0, momentum 0.9: the loss climbs from 4.18 to 8.6 by step 19, then "
          "overflows; the gradient is non-finite at step 30",
          model="build_gpt2, { }", data="markov_tokens, { n = 512, seed = 25 }",
          optimizer='name = "SGD"\nlr = 1.0\nmomentum = 0.9', steps=80, seed=62, batch_size=16),
    _case("mlp_relu_exponential_lr_nan", "feed-forward", "explode",
          "5-layer ReLU MLP (He init); SGD lr 0.01, momentum 0.9, with an ExponentialLR of gamma 1.03 (meant 0.97): "
          "it trains (2.61 -> ~0.2), then the lr, 60x by then, makes the loss NaN at step 139",
          model=_RELU5, data=_BLOBS5, loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.01\nmomentum = 0.9', steps=200, seed=60, batch_size=64,
          schedule='name = "ExponentialLR"\ngamma = 1.03'),
    _case("rnn_tanh_unscaled_growth", "recurrent", "growth",
          "vanilla tanh RNN (hidden 24) on inputs and targets 50x too large (not standardised); SGD lr 0.12: the "
          "loss and gradient norm grow geometrically (the norm doubles every 1.5 steps over its last 40) until "
          "the loss and the float32 norm are inf at step 90",
          model='build_recurrent, { cell = "rnn", inputs = 2, hidden = 24 }',
          data="running_sum, { n = 1024, seq_len = 25, scale = 50.0, seed = 48 }", loss="MSELoss",
          optimizer='name = "SGD"\nlr = 0.12', steps=200, seed=59, batch_size=64),
    # -- unstable / broken / vanish ---------------------------------------------------------------------------------
    _case("convnet_onecycle_015", "conv", "unstable",
          "the plain conv net with a OneCycleLR peaking at lr 0.15 (SGD, momentum 0.9): near the peak the "
          "fixed-batch eval loss jumps 3.9x over its best (step 31); it recovers in part and ends at 0.74 (best "
          "0.57, start 1.63; the cosine run at lr 0.03 reaches 0.24)",
          model=_CONVNET, data=_IMAGES, loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.01\nmomentum = 0.9', steps=160, seed=51, batch_size=32,
          schedule='name = "OneCycleLR"\nmax_lr = 0.15\ntotal_steps = 160'),
    _case("mlp_relu_exponential_lr_late", "feed-forward", "unstable",
          "the ReLU MLP with an ExponentialLR of gamma 1.02: it trains to 0.18, the lr grows 52x and the run "
          "diverges late without NaN: the eval loss ends 3.1x its best and jumps 30x over it at the last step "
          "(late 0.73, start 2.61: not broken)",
          model=_RELU5, data=_BLOBS5, loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.01\nmomentum = 0.9', steps=200, seed=60, batch_size=64,
          schedule='name = "ExponentialLR"\ngamma = 1.02'),
    _case("convnet_onecycle_03", "conv", "broken",
          "the conv net with the OneCycleLR peaking at lr 0.3: a 15x eval-loss spike at step 39, after which it "
          "sits at chance (broken: 1.60 at the end against a start of 1.63 and a best of 1.22, 94% given back)",
          model=_CONVNET, data=_IMAGES, loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.01\nmomentum = 0.9', steps=160, seed=51, batch_size=32,
          schedule='name = "OneCycleLR"\nmax_lr = 0.3\ntotal_steps = 160'),
    _case("mlp_tanh18_default_init", "feed-forward", "broken",
          "18-layer tanh MLP (width 64) with torch's default init, 6 blobs; SGD lr 0.05, momentum 0.9 (broken, "
          "with vanishing gradients: the first weight matrix gets ~9e-4 of the last one's gradient and it never "
          "trains: 1.79 -> 1.80)",
          model='build_mlp, { inputs = 16, width = 64, depth = 18, outputs = 6, activation = "tanh" }',
          data="blobs, { n = 2048, classes = 6, spread = 0.8, seed = 50 }", loss="CrossEntropyLoss",
          optimizer='name = "SGD"\nlr = 0.05\nmomentum = 0.9', steps=200, seed=61, batch_size=64,
          also=("vanish",)),
    _case("mlp_sigmoid10_rmsprop", "feed-forward", "vanish",
          "10-layer sigmoid MLP (width 96, Glorot init) on well-separated blobs; RMSprop lr 5e-4: the first weight "
          "matrix gets ~6e-5 of the last one's gradient; it learns part of the task, 1.60 -> 0.71, and stays "
          "there (on the same data an 8-layer width-128 one under AdamW lr 3e-3 reaches 0.32)",
          model='build_mlp, { inputs = 16, width = 96, depth = 10, outputs = 4, activation = "sigmoid", '
                'init = "xavier" }',
          data="blobs, { n = 2048, spread = 2.0, seed = 45 }", loss="CrossEntropyLoss",
          optimizer='name = "RMSprop"\nlr = 0.0005', steps=200, seed=56, batch_size=64),
]

CASE_NAMES = [c.name for c in CASES]
assert len(set(CASE_NAMES)) == len(CASE_NAMES)
