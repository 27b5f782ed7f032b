"""The PyTorch side of the GPU kit's benchmark: sampling tokens/s and GRPO step tokens/s for a model folder on CUDA,
with achieved TFLOP/s against the GPU's dense bf16 peak (the datasheet's, and a measured 8192^3 bf16 matmul).

    python3 bench_torch.py FOLDER --out RESULT.json [--prompt 64] [--new-tokens 64] [--group 8] [--groups 2] [--repeats 3]

The work per measurement matches `pipeline bench model` (groups x group sequences of prompt + new tokens, no stop
token), so that the two can be read side by side. Modes: fp32 (TF32 off, as libtorch's default) and bf16 (weights in
fp32, autocast to bf16, as a mixed-precision trainer runs).
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

# Dense bf16 tensor-core peaks from NVIDIA's datasheets, TFLOP/s (no sparsity), by a substring of the device name.
PEAKS = [("H200", 989.4), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("A100", 312.0)]


def datasheet_peak(name):
    for key, peak in PEAKS:
        if key in name:
            return key, peak
    return None, None


def timed(fn, repeats):
    fn()  # warm-up: kernels, allocator, autotuning
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def matmul_tflops(n=8192, repeats=10):
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    seconds, _ = timed(lambda: [a @ b for _ in range(repeats)], 3)
    return 2 * n ** 3 * repeats / seconds / 1e12


def shapes(model):
    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    if c.tie_word_embeddings:
        linear += model.get_input_embeddings().weight.numel()  # the head reuses the embedding matrix
    return dict(layers=c.num_hidden_layers, attn_width=c.num_attention_heads * head_dim, matmul_params=linear,
                params=sum(p.numel() for p in model.parameters()), vocab=c.vocab_size, hidden=c.hidden_size)


def forward_flops(s, tokens, context):
    """Matmul FLOPs of a forward over `tokens` tokens that each attend to `context` keys on average."""
    return 2 * s["matmul_params"] * tokens + 4 * s["layers"] * s["attn_width"] * context * tokens


def bench_sampling(model, s, args, mode):
    batch = args.group * args.groups
    prompts = torch.randint(3, min(s["vocab"], 30000), (args.groups, args.prompt), device="cuda").repeat_interleave(args.group, 0)
    mask = torch.ones_like(prompts)

    def run():
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=mode == "bf16"):
            model.generate(prompts, attention_mask=mask, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                           max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                           pad_token_id=model.config.eos_token_id if isinstance(model.config.eos_token_id, int) else 0)

    seconds, times = timed(run, args.repeats)
    new = batch * args.new_tokens
    flops = forward_flops(s, batch * args.prompt, args.prompt / 2) + forward_flops(s, new, args.prompt + args.new_tokens / 2)
    return dict(seconds=seconds, times=times, new_tokens=new, tokens_per_s=new / seconds, tflops=flops / seconds / 1e12)


def bench_grpo(model, s, args, mode):
    batch, length = args.group * args.groups, args.prompt + args.new_tokens
    ids = torch.randint(3, min(s["vocab"], 30000), (batch, length), device="cuda")
    completion = torch.zeros(batch, length - 1, device="cuda")
    completion[:, args.prompt - 1:] = 1.0
    rewards = torch.randn(args.groups, args.group, device="cuda")
    advantages = ((rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-6)).reshape(batch, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, fused=True)
    model.train()

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=mode == "bf16"):
            logits = model(ids).logits[:, :-1]
        logp = -F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none").view(batch, -1)
        ratio = torch.exp(logp - logp.detach())  # on-policy: the ratio is 1, its gradient is not
        loss = -(torch.min(ratio * advantages, ratio.clamp(0.8, 1.2) * advantages) * completion).sum() / completion.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    seconds, times = timed(step, args.repeats)
    model.eval()
    del optimizer
    tokens = batch * length
    flops = 3 * forward_flops(s, tokens, length / 2)  # backward costs twice the forward
    return dict(seconds=seconds, times=times, tokens=tokens, tokens_per_s=tokens / seconds, tflops=flops / seconds / 1e12)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a Hugging Face model folder (make_models.py --bench writes one)")
    parser.add_argument("--out", required=True, help="result JSON")
    parser.add_argument("--prompt", type=int, default=64, help="prompt tokens per sequence")
    parser.add_argument("--new-tokens", type=int, default=64, help="completion tokens per sequence")
    parser.add_argument("--group", type=int, default=8, help="completions per prompt")
    parser.add_argument("--groups", type=int, default=2, help="groups per step")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions after one warm-up (median reported)")
    parser.add_argument("--modes", nargs="+", default=["bf16", "fp32"], choices=["bf16", "fp32"])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_torch.py: CUDA is not available", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    name = torch.cuda.get_device_name()
    key, peak = datasheet_peak(name)
    measured = matmul_tflops()
    model = AutoModelForCausalLM.from_pretrained(args.folder, dtype=torch.float32).to("cuda").eval()
    s = shapes(model)
    result = dict(device=name, torch=torch.__version__, datasheet_bf16_peak_tflops=peak, datasheet_key=key,
                  measured_bf16_matmul_tflops=measured, shapes=s, work=vars(args), modes={})
    for mode in args.modes:
        row = dict(sampling=bench_sampling(model, s, args, mode), grpo=bench_grpo(model, s, args, mode))
        for part in ("sampling", "grpo"):
            tf = row[part]["tflops"]
            row[part]["of_datasheet_peak"] = tf / peak if peak else None
            row[part]["of_measured_matmul"] = tf / measured
        result["modes"][mode] = row
        print(f"{mode}: sampling {row['sampling']['tokens_per_s']:.0f} tokens/s ({row['sampling']['tflops']:.2f} TFLOP/s), "
              f"GRPO step {row['grpo']['tokens_per_s']:.0f} tokens/s ({row['grpo']['tflops']:.1f} TFLOP/s)", flush=True)
    print(f"{name}: bf16 peak {peak} TFLOP/s (datasheet, {key}), {measured:.0f} TFLOP/s measured on an 8192^3 matmul")
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
