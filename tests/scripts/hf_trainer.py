"""A causal language model fine-tuned with the Hugging Face Trainer, as run_clm-style scripts do, tiny: a GPT-2
built from a config (no download), a generated token dataset, gradient accumulation, max_grad_norm, a linear
schedule with warm-up. The tests' truth: the losses the Trainer backpropagates (training_step's return) and
the pre-clip grad_norm it logs."""

import argparse
import json
import os
import tempfile

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

parser = argparse.ArgumentParser()
parser.add_argument("--learning_rate", type=float, default=5e-4)
parser.add_argument("--max_steps", type=int, default=8)
parser.add_argument("--max_grad_norm", type=float, default=1.0)
parser.add_argument("--gradient_accumulation_steps", type=int, default=2)
parser.add_argument("--seed", type=int, default=42)
args = parser.parse_args()


class TokenDataset(torch.utils.data.Dataset):
    def __init__(self, n=64, length=16, vocab=64):
        g = torch.Generator().manual_seed(0)
        start = torch.randint(0, vocab, (n, 1), generator=g)
        self.ids = (start + torch.arange(length) * torch.randint(1, 4, (n, 1), generator=g)) % vocab

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


truth = open(os.environ["GS_TEST_TRUTH"], "a") if os.environ.get("GS_TEST_TRUTH") else None
backpropagated = []  # the losses backpropagated since the last optimizer step


class TruthTrainer(Trainer):
    def training_step(self, *a, **k):
        loss = super().training_step(*a, **k)
        backpropagated.append(loss.item())
        return loss


class Truth(TrainerCallback):
    def on_log(self, targs, state, control, logs=None, **kwargs):
        if truth and logs and "grad_norm" in logs:
            truth.write(json.dumps({"step": state.global_step - 1, "loss": sum(backpropagated),
                                    "grad_norm": float(logs["grad_norm"]), "logged_loss": logs.get("loss")}) + "\n")
            truth.flush()
        backpropagated.clear()


config = GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=2, n_head=2)
model = GPT2LMHeadModel(config)
training_args = TrainingArguments(
    output_dir=tempfile.mkdtemp(prefix="hf-trainer-"), max_steps=args.max_steps, per_device_train_batch_size=4,
    gradient_accumulation_steps=args.gradient_accumulation_steps, learning_rate=args.learning_rate,
    max_grad_norm=args.max_grad_norm, warmup_steps=2, lr_scheduler_type="linear", logging_steps=1,
    save_strategy="no", report_to=[], use_cpu=True, seed=args.seed, dataloader_num_workers=0, disable_tqdm=True)
trainer = TruthTrainer(model=model, args=training_args, train_dataset=TokenDataset(), callbacks=[Truth()])
trainer.train()
