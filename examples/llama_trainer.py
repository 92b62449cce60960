"""A Hugging Face Trainer on a small random-init Llama, recorded by the callback (its logs gain gradscope/ scalars)."""

import torch
from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments

from gradscope.integrations.transformers import GradscopeCallback

config = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
torch.manual_seed(0)
model = LlamaForCausalLM(config)
rows = torch.randint(0, 256, (512, 32))
train_dataset = [{"input_ids": r, "labels": r} for r in rows]

args = TrainingArguments(output_dir="out", max_steps=60, per_device_train_batch_size=8, gradient_accumulation_steps=2,
                         learning_rate=3e-3, max_grad_norm=0.5, logging_steps=20, report_to=[], use_cpu=True,
                         disable_tqdm=True, save_strategy="no")
callback = GradscopeCallback(out="runs/llama")
trainer = Trainer(model=model, args=args, train_dataset=train_dataset, callbacks=[callback])
trainer.train()
