"""Random-weight Hugging Face model folders written by transformers itself, for deploy/gpu-check/run.sh.

    python3 make_models.py OUT_DIR [--bench] [--seed 0]

Writes OUT_DIR/llama3, OUT_DIR/qwen2 and OUT_DIR/qwen3 (tiny, float32, AutoConfig.for_model + from_config +
save_pretrained), and with --bench OUT_DIR/bench-0.5b: Qwen2.5-0.5B's shapes (hidden 896, 24 layers, 14 heads over 2 KV
heads, MLP 4864, vocab 151936, tied), random, bfloat16. The llama3 folder gets the Llama-2 tokenizer fixture
(vocab 32000) so that `pipeline train --model` can run on it. Prints one JSON line per folder.
"""
import argparse
import gzip
import json
import os
import shutil
import sys

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZERS = os.path.join(HERE, "..", "..", "tests", "fixtures", "tokenizers")

# Tiny but not trivial: grouped-query attention, two layers, a context long enough for the greedy checks.
TINY = dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=512, bos_token_id=1, eos_token_id=2, initializer_range=0.1)

FAMILIES = {
    # Llama 3: llama3 RoPE scaling (all three frequency bands used at head_dim 16 with original context 128), untied head.
    "llama3": dict(model_type="llama", vocab_size=32000, rms_norm_eps=1e-5, attention_bias=False, mlp_bias=False,
                   tie_word_embeddings=False,
                   rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
                                        high_freq_factor=4.0, original_max_position_embeddings=128)),
    # Qwen2: q/k/v biases, tied embeddings, no sliding window.
    "qwen2": dict(model_type="qwen2", vocab_size=1000, rms_norm_eps=1e-6, tie_word_embeddings=True,
                  use_sliding_window=False, rope_parameters=dict(rope_type="default", rope_theta=1000000.0)),
    # Qwen3: q_norm/k_norm, head_dim (32) not hidden / heads (16), untied.
    "qwen3": dict(model_type="qwen3", vocab_size=1000, head_dim=32, rms_norm_eps=1e-6, attention_bias=False,
                  tie_word_embeddings=False, use_sliding_window=False,
                  rope_parameters=dict(rope_type="default", rope_theta=1000000.0)),
}

BENCH = dict(model_type="qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
             num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6,
             tie_word_embeddings=True, use_sliding_window=False, bos_token_id=151643, eos_token_id=151645,
             rope_parameters=dict(rope_type="default", rope_theta=1000000.0))


def build(kwargs, seed, dtype):
    kwargs = dict(kwargs)
    model_type = kwargs.pop("model_type")
    config = AutoConfig.for_model(model_type, **kwargs)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).to(torch.float32)
    with torch.no_grad():
        for name, p in model.named_parameters():
            # Norm weights start at 1 and biases at 0: randomise them so the checks exercise them.
            if "norm" in name:
                p.uniform_(0.5, 1.5)
            elif name.endswith(".bias"):
                p.normal_(0.0, 0.1)
    return model.to(dtype).eval()


def save(model, folder):
    if os.path.exists(folder):
        shutil.rmtree(folder)
    model.save_pretrained(folder, safe_serialization=True)


def add_llama2_tokenizer(folder):
    with gzip.open(os.path.join(TOKENIZERS, "llama2.tokenizer.json.gz"), "rb") as src, \
            open(os.path.join(folder, "tokenizer.json"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    shutil.copy(os.path.join(TOKENIZERS, "llama2.tokenizer_config.json"), os.path.join(folder, "tokenizer_config.json"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="folder to write the model folders into")
    parser.add_argument("--bench", action="store_true", help="also write the ~0.5B Qwen2.5-shaped folder (about 1 GB)")
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the random weights")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    for i, (name, extra) in enumerate(FAMILIES.items()):
        folder = os.path.join(args.out, name)
        model = build(dict(TINY, **extra), args.seed + i, torch.float32)
        save(model, folder)
        if name == "llama3":
            add_llama2_tokenizer(folder)
        print(json.dumps(dict(folder=folder, family=name, params=sum(p.numel() for p in model.parameters()),
                              transformers=transformers.__version__, torch=torch.__version__)), flush=True)

    if args.bench:
        folder = os.path.join(args.out, "bench-0.5b")
        model = build(BENCH, args.seed + 100, torch.bfloat16)
        save(model, folder)
        print(json.dumps(dict(folder=folder, family="qwen2", params=sum(p.numel() for p in model.parameters()))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
